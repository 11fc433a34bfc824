// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAgentCompute} from "../interfaces/IAgentCompute.sol";
import {IAgentComputeBridge} from "../interfaces/IAgentComputeBridge.sol";

/// @notice Test-only attacker: an agent contract that pays for sessions in ETH and, when the bridge refunds
/// its unspent ETH, tries to re-enter AgentCompute or the bridge from `receive()`. It either records the
/// reentry's revert data (try/catch) or lets it bubble, which makes the refund (and so the payment) fail.
contract RefundReentrantAgent {
    enum Attack {
        None,
        StartSession,
        ExtendSession,
        EndSession,
        BuyUsdc
    }

    IAgentCompute public immutable compute;
    IAgentComputeBridge public immutable bridge;

    Attack public attack;
    bool public bubble;
    /// @notice Session the ExtendSession / EndSession / BuyUsdc reentries target.
    bytes32 public targetSession;

    uint256 public attempts;
    bool public reentrySucceeded;
    bytes public lastRevert;
    uint256 public lastRefund;

    constructor(IAgentCompute compute_, IAgentComputeBridge bridge_) {
        compute = compute_;
        bridge = bridge_;
    }

    function configure(Attack attack_, bool bubble_, bytes32 target_) external {
        attack = attack_;
        bubble = bubble_;
        targetSession = target_;
    }

    function approveUsdc(IERC20 usdc) external {
        usdc.approve(address(compute), type(uint256).max);
    }

    function start(uint256 duration, uint8 provider, bytes calldata config) external payable returns (bytes32) {
        return compute.startSession{value: msg.value}(duration, provider, config);
    }

    function extend(bytes32 instanceId, uint256 additionalTime) external payable {
        compute.extendSession{value: msg.value}(instanceId, additionalTime);
    }

    function end(bytes32 instanceId) external {
        compute.endSession(instanceId);
    }

    receive() external payable {
        lastRefund = msg.value;
        Attack a = attack;
        if (a == Attack.None) return;
        attempts += 1;
        if (a == Attack.StartSession) {
            try compute.startSession{value: msg.value}(60, 0, "") {
                reentrySucceeded = true;
            } catch (bytes memory reason) {
                _failed(reason);
            }
        } else if (a == Attack.ExtendSession) {
            try compute.extendSession{value: msg.value}(targetSession, 60) {
                reentrySucceeded = true;
            } catch (bytes memory reason) {
                _failed(reason);
            }
        } else if (a == Attack.EndSession) {
            try compute.endSession(targetSession) {
                reentrySucceeded = true;
            } catch (bytes memory reason) {
                _failed(reason);
            }
        } else {
            try bridge.buyUsdc{value: msg.value}(address(this), targetSession, 1, 60, 0) {
                reentrySucceeded = true;
            } catch (bytes memory reason) {
                _failed(reason);
            }
        }
    }

    function _failed(bytes memory reason) private {
        if (bubble) {
            assembly {
                revert(add(reason, 32), mload(reason))
            }
        }
        lastRevert = reason;
    }
}
