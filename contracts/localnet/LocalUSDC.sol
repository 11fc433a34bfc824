// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice A 6-decimal USDC with EIP-2612 permit and EIP-3009 transfers with authorization (as
/// Base's USDC: transferWithAuthorization, receiveWithAuthorization, cancelAuthorization,
/// authorizationState), for the local network (localnet/, what `npm start` runs) and tests. Both
/// kinds of signatures use the token's one EIP-712 domain (name "USD Coin", version "1", read with
/// eip712Domain()), so clients sign for it exactly as for Base's USDC. Anyone may mint: it only
/// ever exists on a local Hardhat network.
contract LocalUSDC is ERC20, ERC20Permit {
    /// @dev keccak256("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)")
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH =
        keccak256("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)");
    /// @dev keccak256("ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)")
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH =
        keccak256("ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)");
    /// @dev keccak256("CancelAuthorization(address authorizer,bytes32 nonce)")
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    /// @dev authorizer => nonce => used or canceled
    mapping(address authorizer => mapping(bytes32 nonce => bool used)) private _authorizationStates;

    /// @notice An authorization was used: `value` moved from `authorizer` under `nonce`.
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    /// @notice An unused authorization was canceled by its authorizer.
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);

    /// @notice The authorization's validAfter has not passed yet.
    error AuthorizationNotYetValid(uint256 validAfter, uint256 timestamp);
    /// @notice The authorization's validBefore has passed.
    error AuthorizationExpired(uint256 validBefore, uint256 timestamp);
    /// @notice The nonce was used or canceled before.
    error AuthorizationAlreadyUsed(address authorizer, bytes32 nonce);
    /// @notice The signature is not the authorizer's over this authorization.
    error InvalidAuthorizationSignature(address authorizer);
    /// @notice receiveWithAuthorization must be called by its payee.
    error CallerNotPayee(address caller, address payee);

    constructor() ERC20("USD Coin", "USDC") ERC20Permit("USD Coin") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Whether `nonce` of `authorizer` was used or canceled.
    /// @param authorizer The signer of the authorization.
    /// @param nonce The authorization's unique nonce.
    /// @return True when it can no longer be used.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizationStates[authorizer][nonce];
    }

    /// @notice Moves `value` from `from` to `to` with `from`'s signed authorization (v, r, s form).
    /// @param from The payer (signer of the authorization).
    /// @param to The payee.
    /// @param value Amount in base units.
    /// @param validAfter Unix time after which it is valid (exclusive).
    /// @param validBefore Unix time before which it is valid (exclusive).
    /// @param nonce Unique 32-byte nonce chosen by the payer.
    /// @param v Signature v.
    /// @param r Signature r.
    /// @param s Signature s.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _transferWithAuthorization(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce, abi.encodePacked(r, s, v));
    }

    /// @notice As the (v, r, s) form, with a bytes signature (65-byte ECDSA or an ERC-1271 wallet's).
    /// @param from The payer (signer of the authorization).
    /// @param to The payee.
    /// @param value Amount in base units.
    /// @param validAfter Unix time after which it is valid (exclusive).
    /// @param validBefore Unix time before which it is valid (exclusive).
    /// @param nonce Unique 32-byte nonce chosen by the payer.
    /// @param signature The payer's signature.
    function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes memory signature) external {
        _transferWithAuthorization(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce, signature);
    }

    /// @notice As transferWithAuthorization, but only the payee may submit it (no front-running of the payee's call).
    /// @param from The payer (signer of the authorization).
    /// @param to The payee, who must be the caller.
    /// @param value Amount in base units.
    /// @param validAfter Unix time after which it is valid (exclusive).
    /// @param validBefore Unix time before which it is valid (exclusive).
    /// @param nonce Unique 32-byte nonce chosen by the payer.
    /// @param v Signature v.
    /// @param r Signature r.
    /// @param s Signature s.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        if (to != msg.sender) revert CallerNotPayee(msg.sender, to);
        _transferWithAuthorization(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce, abi.encodePacked(r, s, v));
    }

    /// @notice Cancels an unused authorization of `authorizer` (signed by it).
    /// @param authorizer The signer of the authorization to cancel.
    /// @param nonce Its nonce.
    /// @param v Signature v.
    /// @param r Signature r.
    /// @param s Signature s.
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external {
        if (_authorizationStates[authorizer][nonce]) revert AuthorizationAlreadyUsed(authorizer, nonce);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)));
        if (!SignatureChecker.isValidSignatureNow(authorizer, digest, abi.encodePacked(r, s, v))) revert InvalidAuthorizationSignature(authorizer);
        _authorizationStates[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    function _transferWithAuthorization(
        bytes32 typehash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) private {
        if (block.timestamp <= validAfter) revert AuthorizationNotYetValid(validAfter, block.timestamp);
        if (block.timestamp >= validBefore) revert AuthorizationExpired(validBefore, block.timestamp);
        if (_authorizationStates[from][nonce]) revert AuthorizationAlreadyUsed(from, nonce);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(typehash, from, to, value, validAfter, validBefore, nonce)));
        if (!SignatureChecker.isValidSignatureNow(from, digest, signature)) revert InvalidAuthorizationSignature(from);
        // effects before the interaction-free transfer (checks-effects-interactions)
        _authorizationStates[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
        _transfer(from, to, value);
    }
}
