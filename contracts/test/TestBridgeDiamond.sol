// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @notice Test-only stand-in for the LI.FI diamond on the source chain: pulls the bridged token from
/// the sender with transferFrom (so the caller must have approved it, as with the real diamond) and
/// emits the event the LI.FI stand-in reads to answer /status. A transfer the stand-in reports FAILED
/// is refunded to its sender, as a failed bridge returns the funds on the source chain.
contract TestBridgeDiamond {
    using SafeERC20 for IERC20;

    struct Deposit {
        address token;
        address from;
        uint256 amount;
    }

    mapping(bytes32 => Deposit) public deposits;

    event BridgeStarted(bytes32 indexed transactionId, address indexed token, address indexed from, uint256 amount, string toChain, string receiver);
    event BridgeRefunded(bytes32 indexed transactionId, address indexed to, uint256 amount);

    error UnknownTransfer();

    function startBridgeTokensViaTest(bytes32 transactionId, address token, uint256 amount, string calldata toChain, string calldata receiver) external payable {
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        deposits[transactionId] = Deposit(token, msg.sender, amount);
        emit BridgeStarted(transactionId, token, msg.sender, amount, toChain, receiver);
    }

    function refund(bytes32 transactionId) external {
        Deposit memory d = deposits[transactionId];
        if (d.amount == 0) revert UnknownTransfer();
        delete deposits[transactionId];
        IERC20(d.token).safeTransfer(d.from, d.amount);
        emit BridgeRefunded(transactionId, d.from, d.amount);
    }
}
