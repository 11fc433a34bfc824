// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAgentCompute} from "../interfaces/IAgentCompute.sol";
import {IAgentComputeBridge} from "../interfaces/IAgentComputeBridge.sol";

/// @notice Test-only malicious bridge: keeps the agent's ETH and delivers `usdcAmount - shortfall` USDC
/// (nothing when the shortfall is the whole amount), or tries to re-enter AgentCompute while it pays.
contract UndeliveringBridge is IAgentComputeBridge {
    enum Mode {
        Shortchange,
        ReenterEnd,
        ReenterStart
    }

    IERC20 public immutable usdc;
    IAgentCompute public immutable compute;
    Mode public mode;
    uint256 public shortfall;

    constructor(IERC20 usdc_, IAgentCompute compute_) {
        usdc = usdc_;
        compute = compute_;
    }

    function configure(Mode mode_, uint256 shortfall_) external {
        mode = mode_;
        shortfall = shortfall_;
    }

    function buyUsdc(address, bytes32 instanceId, uint256 usdcAmount, uint256, uint8)
        external
        payable
        returns (uint256 ethSpent)
    {
        if (mode == Mode.ReenterEnd) {
            compute.endSession(instanceId); // bubbles the revert
        } else if (mode == Mode.ReenterStart) {
            usdc.approve(address(compute), type(uint256).max);
            compute.startSession(60, 0, ""); // paid in USDC from this contract; bubbles the revert
        }
        uint256 deliver = shortfall >= usdcAmount ? 0 : usdcAmount - shortfall;
        if (deliver > 0) usdc.transfer(address(compute), deliver);
        return msg.value;
    }
}
