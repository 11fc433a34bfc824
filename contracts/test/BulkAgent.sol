// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAgentCompute} from "../interfaces/IAgentCompute.sol";

/// @notice Benchmark helper: an agent contract that opens many sessions in one transaction, so a
/// chain with 10,000 session events can be built in seconds. Local chains only.
contract BulkAgent {
    function startMany(IAgentCompute compute, IERC20 usdc, uint256 n, uint256 duration, uint8 provider, bytes calldata config)
        external
    {
        usdc.approve(address(compute), type(uint256).max);
        for (uint256 i = 0; i < n; ++i) {
            compute.startSession(duration, provider, config);
        }
    }
}
