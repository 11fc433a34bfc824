// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IV3SwapRouter} from "@uniswap/swap-router-contracts/contracts/interfaces/IV3SwapRouter.sol";

import {IAgentComputeBridge} from "./interfaces/IAgentComputeBridge.sol";

/// @title IRouterPayments
/// @notice SwapRouter02's payments half: the part of it this bridge calls.
/// @dev Declared here because ISwapRouter02 pins solc 0.7.6.
interface IRouterPayments {
    /// @notice Sends the router's whole ETH balance to the caller.
    function refundETH() external payable;
}

/// @title AgentComputeBridge
/// @notice Pays for AgentCompute sessions with ETH. It buys exactly the USDC a session costs with an
/// exact-output swap on Uniswap V3's SwapRouter02, has it delivered straight into AgentCompute's
/// escrow, and returns the ETH the swap did not use to the agent in the same transaction.
/// @dev The agent's `msg.value` is the swap's `amountInMaximum`: the agent sends the quote plus the
/// slippage it accepts, so a price moved against it (a sandwich) makes the payment revert instead of
/// overpaying. There is no `amountOutMinimum: 0` anywhere: the output is exact.
contract AgentComputeBridge is IAgentComputeBridge, AccessControl, ReentrancyGuardTransient {
    /// @notice Uniswap V3 SwapRouter02 (Base: 0x2626664c2603336E57B271c5C0b26F421741e481).
    IV3SwapRouter public immutable router;
    /// @notice WETH9 (Base: 0x4200000000000000000000000000000000000006).
    address public immutable weth;
    /// @notice USDC (Base: 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913).
    address public immutable usdc;
    /// @notice The AgentCompute escrow this bridge pays into; the only caller of `buyUsdc`.
    address public immutable compute;
    /// @notice Fee tier of the WETH/USDC pool swapped through (500 = 0.05%, Base's deepest).
    uint24 public poolFee;

    /// @notice Deploys the bridge for one AgentCompute escrow and one WETH/USDC pool.
    /// @param router_ SwapRouter02
    /// @param weth_ WETH9
    /// @param usdc_ USDC
    /// @param compute_ AgentCompute
    /// @param poolFee_ WETH/USDC pool fee tier
    /// @param admin may change the pool fee
    constructor(IV3SwapRouter router_, address weth_, address usdc_, address compute_, uint24 poolFee_, address admin) {
        if (
            address(router_) == address(0) || weth_ == address(0) || usdc_ == address(0) || compute_ == address(0)
                || admin == address(0)
        ) revert ZeroAddress();
        router = router_;
        weth = weth_;
        usdc = usdc_;
        compute = compute_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setPoolFee(poolFee_);
    }

    /// @inheritdoc IAgentComputeBridge
    function buyUsdc(address agent, bytes32 instanceId, uint256 usdcAmount, uint256 duration, uint8 provider)
        external
        payable
        nonReentrant
        returns (uint256 ethSpent)
    {
        if (msg.sender != compute) revert OnlyCompute(msg.sender);
        IV3SwapRouter.ExactOutputSingleParams memory params = IV3SwapRouter.ExactOutputSingleParams({
            tokenIn: weth,
            tokenOut: usdc,
            fee: poolFee,
            recipient: compute,
            amountOut: usdcAmount,
            amountInMaximum: msg.value,
            sqrtPriceLimitX96: 0
        });
        try router.exactOutputSingle{value: msg.value}(params) returns (uint256 amountIn) {
            ethSpent = amountIn;
        } catch (bytes memory reason) {
            revert SwapFailed(reason);
        }
        uint256 ethRefunded;
        if (msg.value > ethSpent) {
            // The router keeps ETH it did not wrap; take it all back (with anything stranded there before,
            // which would otherwise go to the next caller) and hand it to the agent. The bridge holds no ETH
            // between calls, so its whole balance is the agent's.
            IRouterPayments(address(router)).refundETH();
            ethRefunded = address(this).balance;
        }
        emit ComputeRequested(agent, instanceId, provider, duration, usdcAmount, msg.value, ethSpent, ethRefunded);
        if (ethRefunded > 0) {
            (bool ok,) = agent.call{value: ethRefunded}("");
            if (!ok) revert RefundFailed(agent, ethRefunded);
        }
    }

    /// @notice Change the WETH/USDC pool fee tier used for swaps.
    /// @param poolFee_ fee in hundredths of a basis point (100, 500, 3000, 10000 on Uniswap V3)
    function setPoolFee(uint24 poolFee_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setPoolFee(poolFee_);
    }

    /// @notice Accepts only the router's refund of unspent ETH.
    receive() external payable {
        if (msg.sender != address(router)) revert UnexpectedEth(msg.sender);
    }

    function _setPoolFee(uint24 poolFee_) private {
        if (poolFee_ == 0 || poolFee_ >= 1_000_000) revert InvalidPoolFee(poolFee_);
        poolFee = poolFee_;
        emit PoolFeeSet(poolFee_);
    }
}
