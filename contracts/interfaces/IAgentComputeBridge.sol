// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IAgentComputeBridge
/// @notice Turns an agent's ETH into exactly the USDC a session costs, through Uniswap V3's SwapRouter02,
/// delivered straight into AgentCompute's escrow; the ETH the swap did not need goes back to the agent.
interface IAgentComputeBridge {
    /// @notice An agent paid ETH for compute; `usdcAmount` landed in escrow for `instanceId`.
    /// @param agent the paying agent
    /// @param instanceId the session the USDC pays for
    /// @param provider provider id
    /// @param duration seconds bought (the seed called this durationHours; seconds allow sub-hour sessions)
    /// @param usdcAmount USDC base units bought (delivered to AgentCompute's escrow)
    /// @param ethIn wei the agent sent
    /// @param ethSpent wei the swap used
    /// @param ethRefunded wei returned to the agent: `ethIn - ethSpent`, plus any ETH that was stranded in the router
    event ComputeRequested(
        address indexed agent,
        bytes32 indexed instanceId,
        uint8 indexed provider,
        uint256 duration,
        uint256 usdcAmount,
        uint256 ethIn,
        uint256 ethSpent,
        uint256 ethRefunded
    );
    /// @notice The Uniswap V3 pool fee tier swapped through changed.
    /// @param poolFee the new fee tier (500 = 0.05%)
    event PoolFeeSet(uint24 poolFee);

    error ZeroAddress();
    error OnlyCompute(address caller);
    error UnexpectedEth(address sender);
    error SwapFailed(bytes reason);
    error RefundFailed(address agent, uint256 amount);
    error InvalidPoolFee(uint24 poolFee);

    /// @notice Swap the ETH sent for exactly `usdcAmount` USDC paid to AgentCompute, refund the rest to `agent`.
    /// @dev Only AgentCompute calls this, from a payable start or extend; `msg.value` is the agent's maximum.
    /// @param agent who paid and receives the unspent ETH
    /// @param instanceId the session being paid for
    /// @param usdcAmount exact USDC base units to deliver
    /// @param duration seconds bought, for the event
    /// @param provider provider id, for the event
    /// @return ethSpent wei the swap used
    function buyUsdc(address agent, bytes32 instanceId, uint256 usdcAmount, uint256 duration, uint8 provider)
        external
        payable
        returns (uint256 ethSpent);
}
