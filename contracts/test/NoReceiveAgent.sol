// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAgentCompute} from "../interfaces/IAgentCompute.sol";

/// @notice Test-only agent contract that pays for sessions in ETH from its own balance but cannot receive
/// ETH (no receive or fallback), so any refund of unspent ETH to it fails.
contract NoReceiveAgent {
    IAgentCompute public immutable compute;

    constructor(IAgentCompute compute_) {
        compute = compute_;
    }

    /// @notice The only way to fund it.
    function deposit() external payable {}

    function start(uint256 value, uint256 duration, uint8 provider, bytes calldata config) external returns (bytes32) {
        return compute.startSession{value: value}(duration, provider, config);
    }

    function extend(uint256 value, bytes32 instanceId, uint256 additionalTime) external {
        compute.extendSession{value: value}(instanceId, additionalTime);
    }
}
