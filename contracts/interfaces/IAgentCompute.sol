// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IAgentCompute
/// @notice Compute sessions paid in USDC and held in escrow until the keeper claims the time that has
/// elapsed. The seed interface (`startSession`, `extendSession`, `endSession`, `getSessionCost`) is
/// kept; provider ids 0, 1 and 2 are the seed's SPHERON, AKASH and IONET, and an admin can add more.
/// Durations are in seconds; prices are USDC base units (6 decimals) per hour.
interface IAgentCompute {
    /// @notice Where a session is in its life.
    /// @dev Pending: paid, waiting for the keeper to provision it; its clock starts when it runs.
    /// Active: provisioned; escrow streams to the treasury as time passes. Ended: settled, escrow empty.
    enum SessionStatus {
        None,
        Pending,
        Active,
        Ended
    }

    /// @notice What the keeper reports about a session.
    /// @dev Running: provisioned (again, after a failover) at `providerRef`. Failed: provisioning or the
    /// workload failed; the session is settled and the unused escrow refunded. Completed: the session
    /// ran to its end (an audit record only; the session must already be ended or expired).
    /// Provisioning: the keeper has paid a provider for a pending session; for PROVISIONING_WINDOW
    /// after the first such record, an agent ending the still-pending session pays for the time since it.
    enum Outcome {
        None,
        Running,
        Failed,
        Completed,
        Provisioning
    }

    /// @notice Why a renewal could not be paid (the session then ends normally at its end time).
    enum RenewalFailure {
        None,
        BudgetExhausted,
        AboveMaxPerRenewal,
        CapExceeded,
        ProviderInactive,
        PaymentFailed
    }

    /// @notice A session's auto-renewal authorisation, set by its agent or the agent's guardian.
    /// @param period seconds each renewal adds (0: renewal off)
    /// @param maxPerRenewal most one renewal may cost, USDC base units
    /// @param budgetLeft what renewals may still cost in total, USDC base units
    struct AutoRenewal {
        uint40 period;
        uint96 maxPerRenewal;
        uint96 budgetLeft;
    }

    /// @notice Parameters of an EIP-2612 permit for USDC, signed by the agent for AgentCompute.
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice A block of paid time bought by an extension or renewal, charged at its own price.
    /// @param duration seconds bought
    /// @param cost USDC base units paid for them
    struct Tranche {
        uint32 duration;
        uint64 cost;
    }

    /// @notice A provider's price list entry.
    struct Provider {
        uint96 pricePerHour;
        bool active;
    }

    /// @notice A session, packed into one storage slot. The agent is not stored: it is the instanceId's
    /// top 160 bits (see `agentOf`), which keeps a start at one fresh slot of gas.
    /// @param provider provider id
    /// @param status see SessionStatus
    /// @param settledUntil escrow has been streamed (claimed) up to this time
    /// @param endTime paid-for time ends here
    /// @param deposited USDC paid into escrow in total
    /// @param claimed USDC paid out of escrow to the treasury in total
    // 8+8+40+40+80+80 bits: exactly one 32-byte slot, which the packing heuristic does not see
    // solhint-disable-next-line gas-struct-packing
    struct Session {
        uint8 provider;
        SessionStatus status;
        uint40 settledUntil;
        uint40 endTime;
        uint80 deposited;
        uint80 claimed;
    }

    /// @notice A guardian's spending limits for one agent, in USDC base units per calendar window.
    /// @dev Windows are fixed UTC days (`block.timestamp / 1 days`) and fixed weeks
    /// (`block.timestamp / 1 weeks`, weeks start on Thursday 00:00 UTC, the Unix epoch's weekday).
    struct SpendingCaps {
        uint96 dailyCap;
        uint96 weeklyCap;
        bool enabled;
    }

    /// @notice What an agent has spent in the current windows.
    struct Spending {
        uint32 day;
        uint32 week;
        uint96 daySpent;
        uint96 weekSpent;
    }

    /// @notice A Merkle batch of off-chain (WATT) job outcomes.
    struct JobBatch {
        uint40 recordedAt;
        uint32 jobCount;
        uint128 wattTotal;
    }

    /// @notice An agent paid `cost` into escrow for a `duration`-second session on `provider`; the keeper
    /// provisions it and reports the outcome.
    /// @param instanceId the session
    /// @param agent the paying agent
    /// @param provider provider id (SPHERON, AKASH, IONET)
    /// @param duration seconds bought
    /// @param cost USDC base units deposited into escrow
    /// @param config the workload configuration the keeper provisions
    event SessionStarted(
        bytes32 indexed instanceId,
        address indexed agent,
        uint8 indexed provider,
        uint256 duration,
        uint256 cost,
        bytes config
    );
    /// @notice `additionalTime` seconds were bought for `cost` more escrow; the session now ends at `newEndTime`.
    /// @param instanceId the session
    /// @param agent the caller who paid (the session's agent)
    /// @param additionalTime seconds added
    /// @param cost USDC base units deposited into escrow
    /// @param newEndTime the session's end time after the extension
    event SessionExtended(bytes32 indexed instanceId, address indexed agent, uint256 additionalTime, uint256 cost, uint256 newEndTime);
    /// @notice The keeper reported the session running: its paid time runs from `startTime` to `endTime`.
    /// @param instanceId the session
    /// @param startTime when the paid time starts (the report's block time)
    /// @param endTime when the paid time ends
    event SessionActivated(bytes32 indexed instanceId, uint256 startTime, uint256 endTime);
    /// @notice The session ended: the escrow streamed so far went to the treasury, the rest back to the agent.
    /// @param instanceId the session
    /// @param agent the session's agent
    /// @param endedBy who ended it (the agent, its guardian or the keeper)
    /// @param treasury the treasury credited with `paidToTreasury` (withdrawable, see `withdraw`)
    /// @param paidToTreasury USDC base units earned by the operator and not yet claimed
    /// @param refunded returned to the agent (pushed, or deferred to its withdrawable balance: see RefundDeferred)
    event SessionEnded(
        bytes32 indexed instanceId,
        address indexed agent,
        address indexed endedBy,
        address treasury,
        uint256 paidToTreasury,
        uint256 refunded
    );
    /// @notice `amount` streamed to `treasury`'s withdrawable balance.
    /// @param instanceId the session
    /// @param treasury the treasury credited
    /// @param amount USDC base units claimed
    /// @param settledUntil the escrow is now streamed up to this time
    event EscrowClaimed(bytes32 indexed instanceId, address indexed treasury, uint256 amount, uint256 settledUntil);
    /// @notice A refund the agent could not receive (for instance a blacklisted address) was credited to
    /// its withdrawable balance instead.
    /// @param instanceId the session
    /// @param agent the agent credited
    /// @param amount USDC base units credited
    event RefundDeferred(bytes32 indexed instanceId, address indexed agent, uint256 amount);
    /// @notice `account`'s withdrawable balance was paid out to it, at `caller`'s request.
    /// @param account the account paid
    /// @param caller who asked for the payout
    /// @param amount USDC base units paid
    event Withdrawn(address indexed account, address indexed caller, uint256 amount);
    /// @notice Auto-renewal was turned on (or changed) for the session.
    /// @param instanceId the session
    /// @param agent the session's agent
    /// @param setBy who set it (the agent or its guardian)
    /// @param period seconds bought at each renewal
    /// @param maxPerRenewal the most one renewal may cost, in USDC base units
    /// @param budget USDC base units all renewals together may spend
    event AutoRenewalSet(
        bytes32 indexed instanceId,
        address indexed agent,
        address indexed setBy,
        uint256 period,
        uint256 maxPerRenewal,
        uint256 budget
    );
    /// @notice Auto-renewal was turned off for the session.
    /// @param instanceId the session
    /// @param stoppedBy who turned it off
    event AutoRenewalStopped(bytes32 indexed instanceId, address indexed stoppedBy);
    /// @notice The keeper renewed the session from its auto-renewal budget.
    /// @param instanceId the session
    /// @param agent the session's agent, who paid
    /// @param period seconds added
    /// @param cost USDC base units deposited into escrow
    /// @param newEndTime the session's end time after the renewal
    /// @param budgetLeft what the renewal budget has left
    event SessionRenewed(bytes32 indexed instanceId, address indexed agent, uint256 period, uint256 cost, uint256 newEndTime, uint256 budgetLeft);
    /// @notice A renewal could not be paid; renewal is now off and the session ends at its end time.
    /// @param instanceId the session
    /// @param reason why the renewal failed
    event RenewalFailed(bytes32 indexed instanceId, RenewalFailure reason);
    /// @notice The keeper reported what became of the session at the provider.
    /// @param instanceId the session
    /// @param outcome the reported outcome
    /// @param keeper the reporting keeper
    /// @param providerRef the provider's reference for the workload (deployment or container id)
    event OutcomeRecorded(bytes32 indexed instanceId, Outcome indexed outcome, address indexed keeper, string providerRef);
    /// @notice The keeper recorded a Merkle batch of off-chain (WATT) job outcomes.
    /// @param merkleRoot the batch's root
    /// @param keeper the recording keeper
    /// @param jobCount how many jobs the batch holds
    /// @param wattTotal WATT base units charged for them in total
    event JobBatchRecorded(bytes32 indexed merkleRoot, address indexed keeper, uint256 jobCount, uint256 wattTotal);
    /// @notice A provider's hourly price or availability changed.
    /// @param provider provider id
    /// @param pricePerHour USDC base units per hour
    /// @param active whether new sessions may use it
    event ProviderSet(uint8 indexed provider, uint256 pricePerHour, bool active);
    /// @notice Claimed escrow now goes to `treasury`.
    /// @param treasury the new treasury
    event TreasurySet(address indexed treasury);
    /// @notice The ETH bridge allowed to pay for sessions changed.
    /// @param bridge the new bridge (address(0): none)
    event BridgeSet(address indexed bridge);
    /// @notice `agent`'s guardian changed.
    /// @param agent the agent
    /// @param guardian the new guardian (address(0): the agent controls itself)
    event GuardianSet(address indexed agent, address indexed guardian);
    /// @notice `agent`'s spending caps were set or cleared.
    /// @param agent the agent
    /// @param setBy who set them (the agent or its guardian)
    /// @param dailyCap USDC base units per UTC day
    /// @param weeklyCap USDC base units per week
    /// @param enabled false when the caps were cleared
    event SpendingCapsSet(address indexed agent, address indexed setBy, uint256 dailyCap, uint256 weeklyCap, bool enabled);

    error ZeroAddress();
    error UnknownProvider(uint8 provider);
    error ProviderInactive(uint8 provider);
    error DurationOutOfRange(uint256 duration);
    error InvalidPrice();
    error UnknownSession(bytes32 instanceId);
    error NotSessionAgent(bytes32 instanceId, address caller);
    error SessionNotOpen(bytes32 instanceId);
    error SessionExpired(bytes32 instanceId);
    error SessionNotActive(bytes32 instanceId);
    error SessionStillRunning(bytes32 instanceId);
    error InvalidOutcome();
    error NotGuardian(address agent, address caller);
    error DailyCapExceeded(address agent, uint256 spent, uint256 cap);
    error WeeklyCapExceeded(address agent, uint256 spent, uint256 cap);
    error EmptyBatch();
    error BatchAlreadyRecorded(bytes32 merkleRoot);
    error BridgeNotSet();
    error UsdcNotReceived(uint256 expected, uint256 received);
    error ConfigTooLarge(uint256 length);
    error NothingToClaim(bytes32 instanceId);
    error TooManyQueuedExtensions(bytes32 instanceId);
    error CostAboveMaximum(uint256 cost, uint256 maxCost);
    error NothingToWithdraw(address account);
    error InvalidTreasury(address treasury);
    error NotAgentOrGuardian(bytes32 instanceId, address caller);
    error AutoRenewalOff(bytes32 instanceId);
    error RenewalTooEarly(bytes32 instanceId, uint256 endTime);

    /// @notice Start a session paid in USDC from the caller (who must have approved this contract).
    /// @param duration paid time in seconds; the clock starts when the keeper reports it running
    /// @param provider provider id (0 SPHERON, 1 AKASH, 2 IONET, more as the admin adds them)
    /// @param config opaque workload description for the keeper (emitted, not stored)
    /// @return instanceId the new session's id
    function startSession(uint256 duration, uint8 provider, bytes calldata config) external payable returns (bytes32 instanceId);

    /// @notice Buy more time for an open, unexpired session at the provider's current price, as its own tranche:
    /// the seconds already bought keep their own price.
    /// @param instanceId the session
    /// @param additionalTime seconds to add
    function extendSession(bytes32 instanceId, uint256 additionalTime) external payable;

    /// @notice End a session: the elapsed part is credited to the treasury, the rest refunded to the agent
    /// (or credited to its withdrawable balance if the transfer fails).
    /// @param instanceId the session
    function endSession(bytes32 instanceId) external;

    /// @notice Start a session paid in USDC from the caller, reverting if it would cost more than `maxCost`.
    /// @dev Protects against a price change mined before the agent's transaction.
    /// @param duration paid time in seconds
    /// @param provider provider id
    /// @param config opaque workload description for the keeper
    /// @param maxCost most the agent accepts to pay, USDC base units
    /// @return instanceId the new session's id
    function startSessionWithMaxCost(uint256 duration, uint8 provider, bytes calldata config, uint256 maxCost)
        external
        returns (bytes32 instanceId);

    /// @notice Start a session paid in USDC authorised by an EIP-2612 permit instead of an approval.
    /// @dev v2 added `maxCost` (breaking change from v1's `startSessionWithPermit(duration, provider, config, permit)`).
    /// @param duration paid time in seconds
    /// @param provider provider id
    /// @param config opaque workload description for the keeper
    /// @param maxCost most the agent accepts to pay, USDC base units (reverts CostAboveMaximum above it)
    /// @param permit the agent's permit for at least the session's cost
    /// @return instanceId the new session's id
    function startSessionWithPermit(
        uint256 duration,
        uint8 provider,
        bytes calldata config,
        uint256 maxCost,
        Permit calldata permit
    ) external returns (bytes32 instanceId);

    /// @notice Extend a session, paying in USDC authorised by an EIP-2612 permit.
    /// @dev v2 added `maxCost` (breaking change from v1's `extendSessionWithPermit(instanceId, additionalTime, permit)`).
    /// @param instanceId the session
    /// @param additionalTime seconds to add
    /// @param maxCost most the agent accepts to pay, USDC base units (reverts CostAboveMaximum above it)
    /// @param permit the agent's permit for at least the extension's cost
    function extendSessionWithPermit(bytes32 instanceId, uint256 additionalTime, uint256 maxCost, Permit calldata permit)
        external;

    /// @notice Extend a session paying USDC, reverting if the extension would cost more than `maxCost`.
    /// @param instanceId the session
    /// @param additionalTime seconds to add
    /// @param maxCost most the agent accepts to pay, USDC base units
    function extendSessionWithMaxCost(bytes32 instanceId, uint256 additionalTime, uint256 maxCost) external;

    /// @notice Pay `account` its whole withdrawable balance (treasury earnings, deferred refunds).
    /// @dev Anyone may call; the money only ever goes to `account`.
    /// @param account whose balance to pay out
    /// @return amount USDC base units paid
    function withdraw(address account) external returns (uint256 amount);

    /// @notice USDC base units `account` may withdraw.
    /// @param account the account
    /// @return the balance
    function withdrawable(address account) external view returns (uint256);

    /// @notice Put a session on auto-renewal (or change its terms): the keeper may extend it by `period`
    /// seconds shortly before it ends, paid from the agent's USDC at the price then in force.
    /// @param instanceId an open session
    /// @param period seconds per renewal (MIN_DURATION..MAX_DURATION)
    /// @param maxPerRenewal most one renewal may cost, USDC base units
    /// @param budget what renewals may cost in total from now on, USDC base units
    function setAutoRenewal(bytes32 instanceId, uint256 period, uint256 maxPerRenewal, uint256 budget) external;

    /// @notice `setAutoRenewal`, with an EIP-2612 permit from the agent granting AgentCompute the USDC
    /// allowance renewals will draw on. The guardian may send it with the agent's signature.
    /// @param instanceId an open session
    /// @param period seconds per renewal (MIN_DURATION..MAX_DURATION)
    /// @param maxPerRenewal most one renewal may cost, USDC base units
    /// @param budget what renewals may cost in total from now on, USDC base units
    /// @param permit the agent's permit (owner: the agent, spender: AgentCompute)
    function setAutoRenewalWithPermit(
        bytes32 instanceId,
        uint256 period,
        uint256 maxPerRenewal,
        uint256 budget,
        Permit calldata permit
    ) external;

    /// @notice Turn a session's auto-renewal off.
    /// @param instanceId the session
    function stopAutoRenewal(bytes32 instanceId) external;

    /// @notice A session's auto-renewal terms (period 0 when off).
    /// @param instanceId the session
    /// @return the terms
    function autoRenewalOf(bytes32 instanceId) external view returns (AutoRenewal memory);

    /// @notice Renew a session on auto-renewal by its period (keeper only).
    /// @param instanceId an active, unexpired session on auto-renewal ending within one period
    /// @return renewed false when the renewal could not be paid (see RenewalFailed)
    function renew(bytes32 instanceId) external returns (bool renewed);

    /// @notice The extensions and renewals of a session not yet streamed, oldest first. The session's
    /// current block of time (from `settledUntil`) is what is left of earlier purchases.
    /// @param instanceId the session
    /// @return queued tranches in the order they will be consumed
    function queuedTranches(bytes32 instanceId) external view returns (Tranche[] memory queued);

    /// @notice When the keeper first reported a pending session as Provisioning (0 if never).
    /// @param instanceId the session
    /// @return timestamp of the record
    function provisioningStartedAt(bytes32 instanceId) external view returns (uint256);

    /// @notice USDC (base units) that `duration` seconds on `provider` cost now (rounded up).
    /// @param duration seconds
    /// @param provider provider id
    /// @return cost USDC base units
    function getSessionCost(uint256 duration, uint8 provider) external view returns (uint256 cost);
}
