// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IAgentCompute} from "./interfaces/IAgentCompute.sol";
import {IAgentComputeBridge} from "./interfaces/IAgentComputeBridge.sol";

/// @title AgentCompute
/// @notice Lets AI agents buy compute sessions from the keeper's providers without a human. Payment is
/// USDC (approve or EIP-2612 permit, each with an optional maximum cost) or ETH, which the bridge swaps
/// for exactly the USDC the session costs. USDC stays in escrow: the keeper claims the time that has
/// elapsed, and ending a session or a failed provisioning refunds the rest to the agent. Guardians cap
/// what an agent spends per day and week. Sessions can renew themselves within a budget the agent set.
/// Every state change emits an event with indexed ids, so the audit trail is `eth_getLogs` alone.
///
/// Pricing: every purchase (the start, each extension, each renewal) is its own block of seconds at its
/// own cost ("tranche"). Escrow streams to the treasury through the tranches in the order they were
/// bought, each at its own rate, so every second is charged at the price in force when it was bought.
///
/// Pull payments: the treasury's share is credited to a withdrawable balance (`withdraw`); a refund is
/// pushed to the agent and, if that transfer fails (a blacklisted address), credited to the agent's
/// withdrawable balance instead. No payout can make ending, failing or claiming a session revert.
///
/// Provisioning window: once the keeper reports a pending session as Provisioning (it has paid a
/// provider), an agent that ends the still-pending session within PROVISIONING_WINDOW pays the time
/// since that report, at the session's prices, and gets the rest back. After the window, a session the
/// keeper never activated is refunded in full.
/// @dev Money invariant, per session: deposited == claimed + refunded + held, where held is
/// `deposited - claimed` while open and 0 once ended. The contract's USDC balance is the sum of held
/// plus the sum of withdrawable balances.
contract AgentCompute is IAgentCompute, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Runs the keeper: reports outcomes, claims escrow, records job batches, closes expired sessions.
    bytes32 public constant KEEPER_ROLE = keccak256("KEEPER_ROLE");

    /// @notice Provider id of Spheron.
    uint8 public constant SPHERON = 0;
    /// @notice Provider id of Akash.
    uint8 public constant AKASH = 1;
    /// @notice Provider id of io.net.
    uint8 public constant IONET = 2;

    /// @notice Shortest session or extension, in seconds.
    uint256 public constant MIN_DURATION = 60;
    /// @notice Longest session or extension, in seconds.
    uint256 public constant MAX_DURATION = 365 days;
    /// @notice Largest workload description accepted, in bytes.
    uint256 public constant MAX_CONFIG_BYTES = 4096;
    /// @notice Highest price a provider may have: 1,000,000 USDC per hour.
    uint256 public constant MAX_PRICE_PER_HOUR = 1e12;
    /// @notice Most extensions or renewals a session may have waiting to be streamed.
    uint256 public constant MAX_QUEUED_TRANCHES = 64;
    /// @notice How long after a Provisioning report an agent ending its pending session pays for the
    /// time since the report; after it, an unactivated session is refunded in full.
    uint256 public constant PROVISIONING_WINDOW = 15 minutes;

    /// @notice The escrowed token (USDC, 6 decimals).
    IERC20 public immutable usdc;

    /// @notice Swaps ETH payments into USDC; zero disables ETH payments.
    IAgentComputeBridge public bridge;
    /// @dev Shares the bridge's slot: a start reads both, so the bridge costs no extra cold read.
    uint96 private _sessionNonce;
    /// @notice Receives claimed escrow.
    address public treasury;

    mapping(uint8 provider => Provider) private _providers;
    mapping(bytes32 instanceId => Session) private _sessions;
    mapping(address agent => address guardian) private _guardians;
    mapping(address agent => SpendingCaps) private _caps;
    mapping(address agent => Spending) private _spending;
    mapping(bytes32 merkleRoot => JobBatch) private _jobBatches;
    mapping(bytes32 instanceId => TrancheQueue) private _queues;
    mapping(bytes32 instanceId => mapping(uint256 word => TranchePair)) private _tranchePairs;
    mapping(address account => uint256 amount) private _withdrawable;
    mapping(bytes32 instanceId => AutoRenewal) private _autoRenewals;

    /// @dev A session's queue of unstreamed extensions, a ring of MAX_QUEUED_TRANCHES entries, in one slot
    /// together with ring entry 0 (so a first extension costs one new slot). Entries 1-63 are packed two
    /// per TranchePair word: entry i lives in word (i + 1) / 2, first half when i is odd. The session's
    /// current block runs from settledUntil to endTime - queuedSeconds and holds
    /// deposited - claimed - queuedCost.
    struct TrancheQueue {
        uint8 head;
        uint8 count;
        uint40 queuedSeconds;
        uint64 queuedCost;
        uint40 provisioningAt;
        uint32 firstDuration;
        uint64 firstCost;
    }

    struct TranchePair {
        uint32 aDuration;
        uint64 aCost;
        uint32 bDuration;
        uint64 bCost;
    }

    /// @notice Deploys the escrow with its three providers priced and active.
    /// @param usdc_ the USDC token
    /// @param admin holds DEFAULT_ADMIN_ROLE (providers, treasury, bridge, pause, roles)
    /// @param treasury_ receives claimed escrow
    /// @param prices USDC per hour for SPHERON, AKASH and IONET (all active)
    constructor(IERC20 usdc_, address admin, address treasury_, uint96[3] memory prices) {
        if (address(usdc_) == address(0) || admin == address(0)) revert ZeroAddress();
        usdc = usdc_;
        _setTreasury(treasury_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint8 i = 0; i < 3; ++i) {
            _setProvider(i, prices[i], true);
        }
    }

    // ---------------------------------------------------------------- agents

    /// @inheritdoc IAgentCompute
    /// @dev With ETH attached, the bridge swaps it for exactly the cost; `msg.value` is the agent's
    /// maximum and what the swap does not use is refunded in the same transaction. Without ETH, the
    /// cost is pulled in USDC from the caller.
    function startSession(uint256 duration, uint8 provider, bytes calldata config)
        external
        payable
        nonReentrant
        whenNotPaused
        returns (bytes32 instanceId)
    {
        uint256 cost = _quote(duration, provider);
        instanceId = _open(msg.sender, duration, provider, cost, config);
        _collect(instanceId, cost, duration, provider);
    }

    /// @inheritdoc IAgentCompute
    function startSessionWithMaxCost(uint256 duration, uint8 provider, bytes calldata config, uint256 maxCost)
        external
        nonReentrant
        whenNotPaused
        returns (bytes32 instanceId)
    {
        uint256 cost = _quoteMax(duration, provider, maxCost);
        instanceId = _open(msg.sender, duration, provider, cost, config);
        usdc.safeTransferFrom(msg.sender, address(this), cost);
    }

    /// @inheritdoc IAgentCompute
    /// @dev A permit already used (for instance front-run by someone who saw it) is tolerated when the
    /// allowance is there anyway, as OpenZeppelin recommends.
    function startSessionWithPermit(
        uint256 duration,
        uint8 provider,
        bytes calldata config,
        uint256 maxCost,
        Permit calldata permit
    ) external nonReentrant whenNotPaused returns (bytes32 instanceId) {
        uint256 cost = _quoteMax(duration, provider, maxCost);
        instanceId = _open(msg.sender, duration, provider, cost, config);
        _permit(msg.sender, permit);
        usdc.safeTransferFrom(msg.sender, address(this), cost);
    }

    /// @inheritdoc IAgentCompute
    /// @dev Paid like `startSession`: ETH through the bridge when attached, USDC otherwise. The
    /// extension is its own tranche at today's price: time already paid for keeps its own price.
    function extendSession(bytes32 instanceId, uint256 additionalTime) external payable nonReentrant whenNotPaused {
        (uint256 cost, uint8 provider) = _extend(instanceId, additionalTime, type(uint256).max);
        _collect(instanceId, cost, additionalTime, provider);
    }

    /// @inheritdoc IAgentCompute
    function extendSessionWithMaxCost(bytes32 instanceId, uint256 additionalTime, uint256 maxCost)
        external
        nonReentrant
        whenNotPaused
    {
        (uint256 cost,) = _extend(instanceId, additionalTime, maxCost);
        usdc.safeTransferFrom(msg.sender, address(this), cost);
    }

    /// @inheritdoc IAgentCompute
    function extendSessionWithPermit(bytes32 instanceId, uint256 additionalTime, uint256 maxCost, Permit calldata permit)
        external
        nonReentrant
        whenNotPaused
    {
        (uint256 cost,) = _extend(instanceId, additionalTime, maxCost);
        _permit(msg.sender, permit);
        usdc.safeTransferFrom(msg.sender, address(this), cost);
    }

    /// @inheritdoc IAgentCompute
    /// @dev The agent may end its session at any time, even while paused, so its money can always leave.
    /// The keeper may end it once its paid time is over. A session that never ran is refunded in full,
    /// except within PROVISIONING_WINDOW of a Provisioning report, when the agent pays the time since it.
    /// Ending a session turns its auto-renewal off.
    function endSession(bytes32 instanceId) external nonReentrant {
        Session storage s = _openSession(instanceId);
        bool byAgent = msg.sender == agentOf(instanceId);
        if (!byAgent) {
            bool expired = s.status == SessionStatus.Active && block.timestamp >= s.endTime;
            if (!(expired && hasRole(KEEPER_ROLE, msg.sender))) revert NotSessionAgent(instanceId, msg.sender);
        }
        _settle(instanceId, s, byAgent);
    }

    /// @inheritdoc IAgentCompute
    /// @dev Callable by the session's agent or the agent's guardian, even while paused (no money moves).
    /// Renewals also respect the agent's spending caps. Replaces any earlier terms.
    function setAutoRenewal(bytes32 instanceId, uint256 period, uint256 maxPerRenewal, uint256 budget) external {
        _setAutoRenewal(instanceId, period, maxPerRenewal, budget);
    }

    /// @inheritdoc IAgentCompute
    /// @dev A permit that fails (already used, expired, wrong signer) does not revert the settings: the
    /// renewal then pays from whatever allowance there is, or reports PaymentFailed.
    function setAutoRenewalWithPermit(
        bytes32 instanceId,
        uint256 period,
        uint256 maxPerRenewal,
        uint256 budget,
        Permit calldata permit
    ) external nonReentrant {
        _setAutoRenewal(instanceId, period, maxPerRenewal, budget);
        _permit(agentOf(instanceId), permit);
    }

    /// @inheritdoc IAgentCompute
    /// @dev Callable by the session's agent or its guardian at any time, even while paused.
    function stopAutoRenewal(bytes32 instanceId) external {
        _session(instanceId);
        _checkAgentOrGuardian(instanceId);
        delete _autoRenewals[instanceId];
        emit AutoRenewalStopped(instanceId, msg.sender);
    }

    /// @inheritdoc IAgentCompute
    /// @dev Anyone may call: the balance only ever goes to `account`. Works while paused.
    function withdraw(address account) external nonReentrant returns (uint256 amount) {
        amount = _withdrawable[account];
        if (amount == 0) revert NothingToWithdraw(account);
        delete _withdrawable[account];
        emit Withdrawn(account, msg.sender, amount);
        usdc.safeTransfer(account, amount);
    }

    /// @notice Set or clear (zero address) the guardian who controls `agent`'s spending caps and guardian.
    /// @dev Callable by the current guardian, or by the agent itself while it has none.
    /// @param agent the agent
    /// @param guardian the new guardian, or address(0) to hand control back to the agent
    function setGuardian(address agent, address guardian) external {
        _checkGuardian(agent);
        _guardians[agent] = guardian;
        emit GuardianSet(agent, guardian);
    }

    /// @notice Cap what `agent` may pay into sessions per UTC day and per week, in USDC base units.
    /// @dev Callable by the agent's guardian, or the agent itself while it has none. Spending counts
    /// from the moment caps are enabled; refunds do not give allowance back.
    /// @param agent the agent
    /// @param dailyCap most the agent may pay in one UTC day
    /// @param weeklyCap most the agent may pay in one week (weeks start Thursday 00:00 UTC)
    function setSpendingCaps(address agent, uint96 dailyCap, uint96 weeklyCap) external {
        _checkGuardian(agent);
        _caps[agent] = SpendingCaps({dailyCap: dailyCap, weeklyCap: weeklyCap, enabled: true});
        emit SpendingCapsSet(agent, msg.sender, dailyCap, weeklyCap, true);
    }

    /// @notice Remove `agent`'s spending caps.
    /// @param agent the agent
    function clearSpendingCaps(address agent) external {
        _checkGuardian(agent);
        delete _caps[agent];
        emit SpendingCapsSet(agent, msg.sender, 0, 0, false);
    }

    // ---------------------------------------------------------------- keeper

    /// @notice Record what happened to a session on the provider side; the audit trail of the keeper's work.
    /// @dev Running on a pending session starts its clock (it gets all the time it paid for). Failed
    /// settles it: elapsed time (if it ran) to the treasury, the rest refunded. Completed settles an
    /// expired active session, or only records on an ended one. Provisioning on a pending session starts
    /// its provisioning window (only the first record counts, so a retried report changes nothing);
    /// on an active session it only records.
    /// @param instanceId the session
    /// @param outcome what happened
    /// @param providerRef the provider's id for the workload (lease, deployment or container id)
    function recordOutcome(bytes32 instanceId, Outcome outcome, string calldata providerRef)
        external
        nonReentrant
        onlyRole(KEEPER_ROLE)
    {
        Session storage s = _session(instanceId);
        if (outcome == Outcome.Running) {
            if (s.status == SessionStatus.Ended) revert SessionNotOpen(instanceId);
            if (s.status == SessionStatus.Pending) _activate(instanceId, s);
        } else if (outcome == Outcome.Failed) {
            if (s.status == SessionStatus.Ended) revert SessionNotOpen(instanceId);
            _settle(instanceId, s, false);
        } else if (outcome == Outcome.Completed) {
            if (s.status == SessionStatus.Pending) revert SessionNotActive(instanceId);
            if (s.status == SessionStatus.Active) {
                if (block.timestamp < s.endTime) revert SessionStillRunning(instanceId);
                _settle(instanceId, s, false);
            }
        } else if (outcome == Outcome.Provisioning) {
            if (s.status == SessionStatus.Ended) revert SessionNotOpen(instanceId);
            if (s.status == SessionStatus.Pending) {
                TrancheQueue storage q = _queues[instanceId];
                if (q.provisioningAt == 0) q.provisioningAt = uint40(block.timestamp);
            }
        } else {
            revert InvalidOutcome();
        }
        emit OutcomeRecorded(instanceId, outcome, msg.sender, providerRef);
    }

    /// @notice Credit the treasury's withdrawable balance with the escrow streamed since the last claim.
    /// @dev Streams through the session's tranches in order, each at its own price. Pays nothing out, so
    /// a treasury that cannot receive USDC does not block it.
    /// @param instanceId an active session
    /// @return amount USDC base units credited to the treasury
    function claim(bytes32 instanceId) external nonReentrant onlyRole(KEEPER_ROLE) returns (uint256 amount) {
        Session storage s = _session(instanceId);
        if (s.status != SessionStatus.Active) revert SessionNotActive(instanceId);
        uint256 until;
        TrancheQueue memory q;
        bool consumed;
        (amount, until, q, consumed) = _streamActive(instanceId, s);
        if (amount == 0) revert NothingToClaim(instanceId);
        if (consumed) _queues[instanceId] = q;
        s.settledUntil = uint40(until);
        s.claimed += uint80(amount); // amount <= deposited - claimed
        address to = treasury;
        _withdrawable[to] += amount;
        emit EscrowClaimed(instanceId, to, amount, until);
    }

    /// @inheritdoc IAgentCompute
    /// @dev Keeper only. The renewal is paid with the agent's USDC (allowance, or a permit given with
    /// `setAutoRenewalWithPermit`) at the price in force, within the budget, the per-renewal maximum and
    /// the agent's spending caps. One that cannot be paid does not revert: it emits RenewalFailed, turns
    /// renewal off and returns false. (A session whose agent already queued 64 extensions reverts with
    /// TooManyQueuedExtensions: the queue bound holds for renewals too.) The USDC is pulled before the state is written so a failed pull
    /// can be reported without reverting; the reentrancy guard covers the call.
    function renew(bytes32 instanceId)
        external
        nonReentrant
        whenNotPaused
        onlyRole(KEEPER_ROLE)
        returns (bool renewed)
    {
        Session storage s = _openSession(instanceId);
        if (s.status != SessionStatus.Active) revert SessionNotActive(instanceId);
        uint256 end = s.endTime;
        if (block.timestamp >= end) revert SessionExpired(instanceId);
        AutoRenewal memory r = _autoRenewals[instanceId];
        if (r.period == 0) revert AutoRenewalOff(instanceId);
        if (end > block.timestamp + r.period) revert RenewalTooEarly(instanceId, end);
        address agent = agentOf(instanceId);
        uint8 provider = s.provider;
        (uint256 cost, RenewalFailure why) = _renewalCost(agent, provider, r);
        if (why == RenewalFailure.None && !usdc.trySafeTransferFrom(agent, address(this), cost)) {
            why = RenewalFailure.PaymentFailed;
        }
        if (why != RenewalFailure.None) {
            delete _autoRenewals[instanceId];
            emit RenewalFailed(instanceId, why);
            return false;
        }
        _spend(agent, cost);
        r.budgetLeft -= uint96(cost); // cost <= budgetLeft, checked in _renewalCost
        _autoRenewals[instanceId].budgetLeft = r.budgetLeft;
        uint256 newEnd = _append(instanceId, s, r.period, cost);
        emit SessionRenewed(instanceId, agent, r.period, cost, newEnd, r.budgetLeft);
        return true;
    }

    /// @notice Anchor a batch of off-chain job outcomes (WATT jobs) by its Merkle root.
    /// @dev Leaves are OpenZeppelin StandardMerkleTree leaves of (string jobId, bytes32 outcomeHash,
    /// uint256 wattCharged); see `verifyJob`. Costs the same whatever the batch size.
    /// @param merkleRoot the batch's root
    /// @param jobCount how many jobs the batch holds
    /// @param wattTotal WATT base units charged for them in total
    function recordJobBatch(bytes32 merkleRoot, uint32 jobCount, uint128 wattTotal) external onlyRole(KEEPER_ROLE) {
        if (jobCount == 0) revert EmptyBatch();
        JobBatch storage b = _jobBatches[merkleRoot];
        if (b.recordedAt != 0) revert BatchAlreadyRecorded(merkleRoot);
        b.recordedAt = uint40(block.timestamp);
        b.jobCount = jobCount;
        b.wattTotal = wattTotal;
        emit JobBatchRecorded(merkleRoot, msg.sender, jobCount, wattTotal);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Add a provider or change its price or availability; takes effect for new payments only.
    /// @param provider provider id (0-2 are SPHERON, AKASH, IONET; any other id adds one)
    /// @param pricePerHour USDC base units per hour, non-zero
    /// @param active whether new sessions and extensions may use it
    function setProvider(uint8 provider, uint96 pricePerHour, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setProvider(provider, pricePerHour, active);
    }

    /// @notice Set whose withdrawable balance claimed escrow is credited to from now on; what the old
    /// treasury earned stays withdrawable by it.
    /// @param treasury_ the new treasury (not zero, not this contract)
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(treasury_);
    }

    /// @notice Set the bridge that swaps ETH payments (zero disables ETH payments).
    /// @param bridge_ the bridge
    function setBridge(IAgentComputeBridge bridge_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        bridge = bridge_;
        emit BridgeSet(address(bridge_));
    }

    /// @notice Stop new sessions, extensions and renewals; ending, claiming, outcomes, withdrawals and
    /// auto-renewal settings keep working.
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @notice Resume new sessions, extensions and renewals.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IAgentCompute
    function getSessionCost(uint256 duration, uint8 provider) external view returns (uint256 cost) {
        return _quote(duration, provider);
    }

    /// @notice A session's stored state.
    /// @param instanceId the session
    /// @return the session (status None if unknown)
    function getSession(bytes32 instanceId) external view returns (Session memory) {
        return _sessions[instanceId];
    }

    /// @notice USDC the keeper could claim now for `instanceId`.
    /// @param instanceId the session
    /// @return amount claimable USDC base units (0 unless active)
    function claimable(bytes32 instanceId) external view returns (uint256 amount) {
        Session storage s = _sessions[instanceId];
        if (s.status != SessionStatus.Active) return 0;
        (amount,,,) = _streamActive(instanceId, s);
    }

    /// @inheritdoc IAgentCompute
    function withdrawable(address account) external view returns (uint256) {
        return _withdrawable[account];
    }

    /// @inheritdoc IAgentCompute
    function autoRenewalOf(bytes32 instanceId) external view returns (AutoRenewal memory) {
        return _autoRenewals[instanceId];
    }

    /// @inheritdoc IAgentCompute
    function queuedTranches(bytes32 instanceId) external view returns (Tranche[] memory queued) {
        TrancheQueue memory q = _queues[instanceId];
        queued = new Tranche[](q.count);
        for (uint256 k = 0; k < q.count; ++k) {
            (uint256 d, uint256 c) = _trancheAt(instanceId, q, (q.head + k) % MAX_QUEUED_TRANCHES);
            queued[k] = Tranche({duration: uint32(d), cost: uint64(c)});
        }
    }

    /// @inheritdoc IAgentCompute
    function provisioningStartedAt(bytes32 instanceId) external view returns (uint256) {
        return _queues[instanceId].provisioningAt;
    }

    /// @notice The agent that owns `instanceId`: ids are `agent << 96 | nonce`.
    /// @param instanceId a session id
    /// @return agent the paying agent
    function agentOf(bytes32 instanceId) public pure returns (address agent) {
        return address(uint160(uint256(instanceId) >> 96));
    }

    /// @notice A provider's price entry.
    /// @param provider provider id
    /// @return the entry (pricePerHour 0 if unknown)
    function getProvider(uint8 provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @notice Who controls `agent`'s caps: its guardian, or the agent itself when it has none.
    /// @param agent the agent
    /// @return guardian the address allowed to set caps
    function guardianOf(address agent) public view returns (address guardian) {
        guardian = _guardians[agent];
        if (guardian == address(0)) guardian = agent;
    }

    /// @notice `agent`'s caps.
    /// @param agent the agent
    /// @return the caps (enabled false when none)
    function spendingCaps(address agent) external view returns (SpendingCaps memory) {
        return _caps[agent];
    }

    /// @notice What `agent` may still pay today and this week (type(uint256).max when uncapped).
    /// @param agent the agent
    /// @return daily remaining in the current UTC day
    /// @return weekly remaining in the current week
    function remainingAllowance(address agent) external view returns (uint256 daily, uint256 weekly) {
        SpendingCaps memory caps = _caps[agent];
        if (!caps.enabled) return (type(uint256).max, type(uint256).max);
        (uint256 daySpent, uint256 weekSpent) = _currentSpending(_spending[agent]);
        daily = caps.dailyCap > daySpent ? caps.dailyCap - daySpent : 0;
        weekly = caps.weeklyCap > weekSpent ? caps.weeklyCap - weekSpent : 0;
    }

    /// @notice A recorded job batch.
    /// @param merkleRoot the batch's root
    /// @return the batch (recordedAt 0 if unknown)
    function getJobBatch(bytes32 merkleRoot) external view returns (JobBatch memory) {
        return _jobBatches[merkleRoot];
    }

    /// @notice Check that a job outcome is in a recorded batch.
    /// @param merkleRoot a recorded batch root
    /// @param proof the job's inclusion proof (from @openzeppelin/merkle-tree)
    /// @param jobId the job's id
    /// @param outcomeHash hash of the job's result as the keeper served it
    /// @param wattCharged WATT base units charged for the job
    /// @return true if the batch is recorded and the leaf is in it
    function verifyJob(
        bytes32 merkleRoot,
        bytes32[] calldata proof,
        string calldata jobId,
        bytes32 outcomeHash,
        uint256 wattCharged
    ) external view returns (bool) {
        if (_jobBatches[merkleRoot].recordedAt == 0) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(jobId, outcomeHash, wattCharged))));
        return MerkleProof.verifyCalldata(proof, merkleRoot, leaf);
    }

    // ---------------------------------------------------------------- internals

    function _quote(uint256 duration, uint8 provider) private view returns (uint256 cost) {
        if (duration < MIN_DURATION || duration > MAX_DURATION) revert DurationOutOfRange(duration);
        Provider memory p = _providers[provider];
        if (p.pricePerHour == 0) revert UnknownProvider(provider);
        if (!p.active) revert ProviderInactive(provider);
        // Rounded up so that no second is ever sold for free.
        cost = (uint256(p.pricePerHour) * duration + 3599) / 3600;
    }

    function _quoteMax(uint256 duration, uint8 provider, uint256 maxCost) private view returns (uint256 cost) {
        cost = _quote(duration, provider);
        if (cost > maxCost) revert CostAboveMaximum(cost, maxCost);
    }

    function _open(address agent, uint256 duration, uint8 provider, uint256 cost, bytes calldata config)
        private
        returns (bytes32 instanceId)
    {
        if (config.length > MAX_CONFIG_BYTES) revert ConfigTooLarge(config.length);
        _spend(agent, cost);
        // Unique: the nonce never repeats. Anyone can read the owner back from the id (agentOf).
        instanceId = bytes32((uint256(uint160(agent)) << 96) | ++_sessionNonce);
        _sessions[instanceId] = Session({
            provider: provider,
            status: SessionStatus.Pending,
            settledUntil: uint40(block.timestamp),
            endTime: uint40(block.timestamp + duration),
            deposited: uint80(cost), // cost <= MAX_PRICE_PER_HOUR * MAX_DURATION / 3600, far below 2^80
            claimed: 0
        });
        emit SessionStarted(instanceId, agent, provider, duration, cost, config);
    }

    function _extend(bytes32 instanceId, uint256 additionalTime, uint256 maxCost)
        private
        returns (uint256 cost, uint8 provider)
    {
        Session storage s = _openSession(instanceId);
        if (msg.sender != agentOf(instanceId)) revert NotSessionAgent(instanceId, msg.sender);
        if (s.status == SessionStatus.Active && block.timestamp >= s.endTime) revert SessionExpired(instanceId);
        provider = s.provider;
        cost = _quoteMax(additionalTime, provider, maxCost);
        _spend(msg.sender, cost);
        uint256 newEnd = _append(instanceId, s, additionalTime, cost);
        emit SessionExtended(instanceId, msg.sender, additionalTime, cost, newEnd);
    }

    /// @dev Adds a tranche of `duration` seconds bought for `cost` behind the session's paid time.
    /// duration <= MAX_DURATION < 2^32 and cost <= MAX_PRICE_PER_HOUR * MAX_DURATION / 3600 + 1 < 2^53,
    /// so 64 of them fit the queue's uint40 and uint64 sums.
    function _append(bytes32 instanceId, Session storage s, uint256 duration, uint256 cost)
        private
        returns (uint256 newEnd)
    {
        TrancheQueue memory q = _queues[instanceId];
        if (q.count == MAX_QUEUED_TRANCHES) revert TooManyQueuedExtensions(instanceId);
        uint256 i = (uint256(q.head) + q.count) % MAX_QUEUED_TRANCHES;
        if (i == 0) {
            q.firstDuration = uint32(duration);
            q.firstCost = uint64(cost);
        } else {
            TranchePair storage pair = _tranchePairs[instanceId][(i + 1) >> 1];
            if (i & 1 == 1) {
                pair.aDuration = uint32(duration);
                pair.aCost = uint64(cost);
            } else {
                pair.bDuration = uint32(duration);
                pair.bCost = uint64(cost);
            }
        }
        ++q.count;
        q.queuedSeconds += uint40(duration);
        q.queuedCost += uint64(cost);
        _queues[instanceId] = q;
        newEnd = s.endTime + duration;
        s.endTime = uint40(newEnd); // checked: newEnd < 2^40 as long as block time is
        s.deposited = SafeCast.toUint80(s.deposited + cost);
    }

    function _trancheAt(bytes32 instanceId, TrancheQueue memory q, uint256 i)
        private
        view
        returns (uint256 duration, uint256 cost)
    {
        if (i == 0) return (q.firstDuration, q.firstCost);
        TranchePair storage pair = _tranchePairs[instanceId][(i + 1) >> 1];
        return i & 1 == 1 ? (pair.aDuration, pair.aCost) : (pair.bDuration, pair.bCost);
    }

    /// @dev Takes the payment for `cost`: through the bridge if ETH came with the call, else USDC pulled
    /// from the caller. The bridge's delivery is checked against this contract's balance, not trusted.
    function _collect(bytes32 instanceId, uint256 cost, uint256 duration, uint8 provider) private {
        if (msg.value == 0) {
            usdc.safeTransferFrom(msg.sender, address(this), cost);
            return;
        }
        IAgentComputeBridge b = bridge;
        if (address(b) == address(0)) revert BridgeNotSet();
        uint256 balanceBefore = usdc.balanceOf(address(this));
        b.buyUsdc{value: msg.value}(msg.sender, instanceId, cost, duration, provider);
        uint256 received = usdc.balanceOf(address(this)) - balanceBefore;
        if (received < cost) revert UsdcNotReceived(cost, received);
    }

    function _permit(address owner, Permit calldata p) private {
        // Ignore failure: a front-runner may have submitted the same permit; transferFrom then decides.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(address(usdc)).permit(owner, address(this), p.value, p.deadline, p.v, p.r, p.s) {} catch {}
    }

    function _activate(bytes32 instanceId, Session storage s) private {
        // The clock starts now: the agent gets every second it paid for, however long provisioning took.
        uint40 paid = s.endTime - s.settledUntil;
        uint40 start = uint40(block.timestamp);
        s.settledUntil = start;
        s.endTime = start + paid;
        s.status = SessionStatus.Active;
        emit SessionActivated(instanceId, start, start + paid);
    }

    /// @dev Ends a session: the streamed part is credited to the treasury, everything else goes back to
    /// the agent (pushed, or credited to it if the transfer fails). Clears the queue and auto-renewal.
    function _settle(bytes32 instanceId, Session storage s, bool byAgent) private {
        uint256 earned;
        if (s.status == SessionStatus.Active) {
            uint256 until;
            (earned, until,,) = _streamActive(instanceId, s);
            s.settledUntil = uint40(until);
        } else if (byAgent) {
            // Pending: within the provisioning window the agent pays the time since the keeper paid a provider.
            TrancheQueue memory q = _queues[instanceId];
            uint256 at = q.provisioningAt;
            if (at != 0 && block.timestamp < at + PROVISIONING_WINDOW) {
                (earned,) = _stream(instanceId, q, at, at + s.endTime - s.settledUntil, s.deposited - s.claimed);
            }
        }
        delete _queues[instanceId];
        if (_autoRenewals[instanceId].period != 0) {
            delete _autoRenewals[instanceId];
            emit AutoRenewalStopped(instanceId, msg.sender);
        }
        uint80 claimed = s.claimed + uint80(earned); // earned <= deposited - claimed
        uint256 refund = s.deposited - claimed;
        s.claimed = claimed;
        s.status = SessionStatus.Ended;
        address agent = agentOf(instanceId);
        address to = treasury;
        if (earned > 0) _withdrawable[to] += earned;
        emit SessionEnded(instanceId, agent, msg.sender, to, earned, refund);
        if (refund > 0 && !usdc.trySafeTransfer(agent, refund)) {
            _withdrawable[agent] += refund;
            emit RefundDeferred(instanceId, agent, refund);
        }
    }

    /// @dev What an active session has streamed since settledUntil, up to now or its end, and its queue
    /// without the tranches that used up (`consumed` when there were any).
    function _streamActive(bytes32 instanceId, Session storage s)
        private
        view
        returns (uint256 amount, uint256 until, TrancheQueue memory q, bool consumed)
    {
        uint256 from = s.settledUntil;
        uint256 end = s.endTime;
        until = block.timestamp < end ? block.timestamp : end;
        if (until <= from) return (0, from, q, false);
        q = _queues[instanceId];
        uint8 countBefore = q.count;
        amount = _streamTo(instanceId, q, from, end, s.deposited - s.claimed, until);
        consumed = q.count != countBefore;
    }

    /// @dev `_streamTo` up to now on a timeline starting at `from` (used for the provisioning window).
    function _stream(bytes32 instanceId, TrancheQueue memory q, uint256 from, uint256 end, uint256 held)
        private
        view
        returns (uint256 amount, uint256 until)
    {
        until = block.timestamp < end ? block.timestamp : end;
        amount = _streamTo(instanceId, q, from, end, held, until);
    }

    /// @dev Escrow streams through the tranches in the order bought: the current block (from `from` to
    /// `end - queuedSeconds`, holding `held - queuedCost`) evenly, then each queued tranche evenly over
    /// its own seconds at its own cost. A tranche fully used is paid in full. Updates `q` in memory.
    function _streamTo(bytes32 instanceId, TrancheQueue memory q, uint256 from, uint256 end, uint256 held, uint256 until)
        private
        view
        returns (uint256 amount)
    {
        uint256 blockEnd = end - q.queuedSeconds;
        uint256 blockHeld = held - q.queuedCost;
        while (q.count > 0 && until >= blockEnd) {
            amount += blockHeld;
            (uint256 d, uint256 c) = _trancheAt(instanceId, q, q.head);
            from = blockEnd;
            blockEnd += d;
            blockHeld = c;
            q.queuedSeconds -= uint40(d);
            q.queuedCost -= uint64(c);
            q.head = uint8((q.head + 1) % MAX_QUEUED_TRANCHES);
            --q.count;
        }
        if (until > from) amount += until >= blockEnd ? blockHeld : (blockHeld * (until - from)) / (blockEnd - from);
    }

    /// @dev A renewal's cost and, if it cannot be paid from the authorisation, why.
    function _renewalCost(address agent, uint8 provider, AutoRenewal memory r)
        private
        view
        returns (uint256 cost, RenewalFailure why)
    {
        Provider memory p = _providers[provider];
        if (!p.active) return (0, RenewalFailure.ProviderInactive);
        cost = (uint256(p.pricePerHour) * r.period + 3599) / 3600;
        if (cost > r.maxPerRenewal) return (cost, RenewalFailure.AboveMaxPerRenewal);
        if (cost > r.budgetLeft) return (cost, RenewalFailure.BudgetExhausted);
        SpendingCaps memory caps = _caps[agent];
        if (caps.enabled) {
            (uint256 daySpent, uint256 weekSpent) = _currentSpending(_spending[agent]);
            if (daySpent + cost > caps.dailyCap || weekSpent + cost > caps.weeklyCap) {
                return (cost, RenewalFailure.CapExceeded);
            }
        }
    }

    function _setAutoRenewal(bytes32 instanceId, uint256 period, uint256 maxPerRenewal, uint256 budget) private {
        _openSession(instanceId);
        address agent = _checkAgentOrGuardian(instanceId);
        if (period < MIN_DURATION || period > MAX_DURATION) revert DurationOutOfRange(period);
        _autoRenewals[instanceId] = AutoRenewal({
            period: uint40(period),
            maxPerRenewal: SafeCast.toUint96(maxPerRenewal),
            budgetLeft: SafeCast.toUint96(budget)
        });
        emit AutoRenewalSet(instanceId, agent, msg.sender, period, maxPerRenewal, budget);
    }

    function _checkAgentOrGuardian(bytes32 instanceId) private view returns (address agent) {
        agent = agentOf(instanceId);
        if (msg.sender != agent && msg.sender != _guardians[agent]) revert NotAgentOrGuardian(instanceId, msg.sender);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0) || treasury_ == address(this)) revert InvalidTreasury(treasury_);
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    function _spend(address agent, uint256 amount) private {
        SpendingCaps memory caps = _caps[agent];
        if (!caps.enabled) return;
        Spending storage sp = _spending[agent];
        (uint256 daySpent, uint256 weekSpent) = _currentSpending(sp);
        daySpent += amount;
        weekSpent += amount;
        if (daySpent > caps.dailyCap) revert DailyCapExceeded(agent, daySpent, caps.dailyCap);
        if (weekSpent > caps.weeklyCap) revert WeeklyCapExceeded(agent, weekSpent, caps.weeklyCap);
        // Both sums are bounded by the uint96 caps checked just above.
        sp.day = uint32(block.timestamp / 1 days);
        sp.week = uint32(block.timestamp / 1 weeks);
        sp.daySpent = uint96(daySpent);
        sp.weekSpent = uint96(weekSpent);
    }

    function _currentSpending(Spending memory sp) private view returns (uint256 daySpent, uint256 weekSpent) {
        if (sp.day == block.timestamp / 1 days) daySpent = sp.daySpent;
        if (sp.week == block.timestamp / 1 weeks) weekSpent = sp.weekSpent;
    }

    function _checkGuardian(address agent) private view {
        if (msg.sender != guardianOf(agent)) revert NotGuardian(agent, msg.sender);
    }

    function _setProvider(uint8 provider, uint96 pricePerHour, bool active) private {
        if (pricePerHour == 0 || pricePerHour > MAX_PRICE_PER_HOUR) revert InvalidPrice();
        _providers[provider] = Provider({pricePerHour: pricePerHour, active: active});
        emit ProviderSet(provider, pricePerHour, active);
    }

    function _session(bytes32 instanceId) private view returns (Session storage s) {
        s = _sessions[instanceId];
        if (s.status == SessionStatus.None) revert UnknownSession(instanceId);
    }

    function _openSession(bytes32 instanceId) private view returns (Session storage s) {
        s = _session(instanceId);
        if (s.status == SessionStatus.Ended) revert SessionNotOpen(instanceId);
    }
}
