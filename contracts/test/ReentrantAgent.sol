// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAgentCompute} from "../interfaces/IAgentCompute.sol";

/// @notice An agent contract that, when the bridge refunds its unspent ETH, calls `target` with
/// `payload` (a re-entry attempt). In `swallow` mode it records how the attempt ended and lets the
/// refund succeed; otherwise the attempt's revert bubbles up and fails the refund.
contract ReentrantAgent {
    address public reentryTarget;
    bytes public payload;
    bool public swallow;
    bool public attempted;
    bool public attemptSucceeded;
    bytes public attemptRevertData;

    function arm(address target_, bytes calldata payload_, bool swallow_) external {
        reentryTarget = target_;
        payload = payload_;
        swallow = swallow_;
        attempted = false;
    }

    function start(IAgentCompute compute, uint256 duration, uint8 provider) external payable returns (bytes32) {
        return compute.startSession{value: msg.value}(duration, provider, "");
    }

    function extend(IAgentCompute compute, bytes32 id, uint256 extra) external payable {
        compute.extendSession{value: msg.value}(id, extra);
    }

    function end(IAgentCompute compute, bytes32 id) external {
        compute.endSession(id);
    }

    receive() external payable {
        if (attempted || reentryTarget == address(0)) return;
        attempted = true;
        (bool ok, bytes memory data) = reentryTarget.call(payload);
        attemptSucceeded = ok;
        attemptRevertData = data;
        if (!ok && !swallow) {
            assembly {
                revert(add(data, 32), mload(data))
            }
        }
    }
}
