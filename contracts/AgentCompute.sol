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
/// USDC (approve or EIP-2612 permit) or ETH, which the bridge swaps for exactly the USDC the session
/// costs. USDC stays in escrow: the keeper claims the time that has elapsed, and ending a session or a
/// failed provisioning refunds the rest to the agent. Guardians cap what an agent spends per day and week.
/// Every state change emits an event with indexed ids, so the audit trail is `eth_getLogs` alone.
/// @dev Money invariant, per session: deposited == claimed + refunded + held, where held is
/// `deposited - claimed` while open and 0 once ended. The contract's USDC balance is the sum of held.
contract AgentCompute is IAgentCompute, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Runs the keeper: reports outcomes, claims escrow, records job batches, closes expired sessions.
    bytes32 public constant KEEPER_ROLE = keccak256("KEEPER_ROLE");

    uint8 public constant SPHERON = 0;
    uint8 public constant AKASH = 1;
    uint8 public constant IONET = 2;

    /// @notice Shortest session or extension, in seconds.
    uint256 public constant MIN_DURATION = 60;
    /// @notice Longest session or extension, in seconds.
    uint256 public constant MAX_DURATION = 365 days;
    /// @notice Largest workload description accepted, in bytes.
    uint256 public constant MAX_CONFIG_BYTES = 4096;
    /// @notice Highest price a provider may have: 1,000,000 USDC per hour.
    uint256 public constant MAX_PRICE_PER_HOUR = 1e12;

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

    /// @notice Parameters of an EIP-2612 permit for USDC, signed by the agent for this contract.
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @param usdc_ the USDC token
    /// @param admin holds DEFAULT_ADMIN_ROLE (providers, treasury, bridge, pause, roles)
    /// @param treasury_ receives claimed escrow
    /// @param prices USDC per hour for SPHERON, AKASH and IONET (all active)
    constructor(IERC20 usdc_, address admin, address treasury_, uint96[3] memory prices) {
        if (address(usdc_) == address(0) || admin == address(0) || treasury_ == address(0)) revert ZeroAddress();
        usdc = usdc_;
        treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        emit TreasurySet(treasury_);
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

    /// @notice Start a session paid in USDC authorised by an EIP-2612 permit instead of an approval.
    /// @dev A permit already used (for instance front-run by someone who saw it) is tolerated when the
    /// allowance is there anyway, as OpenZeppelin recommends.
    /// @param duration paid time in seconds
    /// @param provider provider id
    /// @param config opaque workload description for the keeper
    /// @param permit the agent's permit for at least the session's cost
    /// @return instanceId the new session's id
    function startSessionWithPermit(uint256 duration, uint8 provider, bytes calldata config, Permit calldata permit)
        external
        nonReentrant
        whenNotPaused
        returns (bytes32 instanceId)
    {
        uint256 cost = _quote(duration, provider);
        instanceId = _open(msg.sender, duration, provider, cost, config);
        _permit(permit);
        usdc.safeTransferFrom(msg.sender, address(this), cost);
    }

    /// @inheritdoc IAgentCompute
    /// @dev Paid like `startSession`: ETH through the bridge when attached, USDC otherwise.
    function extendSession(bytes32 instanceId, uint256 additionalTime) external payable nonReentrant whenNotPaused {
        (uint256 cost, uint8 provider) = _extend(instanceId, additionalTime);
        _collect(instanceId, cost, additionalTime, provider);
    }

    /// @notice Extend a session, paying in USDC authorised by an EIP-2612 permit.
    /// @param instanceId the session
    /// @param additionalTime seconds to add
    /// @param permit the agent's permit for at least the extension's cost
    function extendSessionWithPermit(bytes32 instanceId, uint256 additionalTime, Permit calldata permit)
        external
        nonReentrant
        whenNotPaused
    {
        (uint256 cost,) = _extend(instanceId, additionalTime);
        _permit(permit);
        usdc.safeTransferFrom(msg.sender, address(this), cost);
    }

    /// @inheritdoc IAgentCompute
    /// @dev The agent may end its session at any time, even while paused, so its money can always leave.
    /// The keeper may end it once its paid time is over. A session that never ran is refunded in full.
    function endSession(bytes32 instanceId) external nonReentrant {
        Session storage s = _openSession(instanceId);
        if (msg.sender != agentOf(instanceId)) {
            bool expired = s.status == SessionStatus.Active && block.timestamp >= s.endTime;
            if (!(expired && hasRole(KEEPER_ROLE, msg.sender))) revert NotSessionAgent(instanceId, msg.sender);
        }
        _settle(instanceId, s);
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
    /// expired active session, or only records on an ended one.
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
            _settle(instanceId, s);
        } else if (outcome == Outcome.Completed) {
            if (s.status == SessionStatus.Pending) revert SessionNotActive(instanceId);
            if (s.status == SessionStatus.Active) {
                if (block.timestamp < s.endTime) revert SessionStillRunning(instanceId);
                _settle(instanceId, s);
            }
        } else {
            revert InvalidOutcome();
        }
        emit OutcomeRecorded(instanceId, outcome, msg.sender, providerRef);
    }

    /// @notice Pay the treasury the escrow that has streamed since the last claim.
    /// @param instanceId an active session
    /// @return amount USDC base units paid to the treasury
    function claim(bytes32 instanceId) external nonReentrant onlyRole(KEEPER_ROLE) returns (uint256 amount) {
        Session storage s = _session(instanceId);
        if (s.status != SessionStatus.Active) revert SessionNotActive(instanceId);
        uint256 until;
        (amount, until) = _streamed(s);
        if (amount == 0) revert NothingToClaim(instanceId);
        s.settledUntil = uint40(until);
        s.claimed += uint80(amount); // amount <= deposited - claimed
        address to = treasury;
        emit EscrowClaimed(instanceId, to, amount, until);
        usdc.safeTransfer(to, amount);
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

    /// @notice Set where claimed escrow goes.
    /// @param treasury_ the new treasury
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    /// @notice Set the bridge that swaps ETH payments (zero disables ETH payments).
    /// @param bridge_ the bridge
    function setBridge(IAgentComputeBridge bridge_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        bridge = bridge_;
        emit BridgeSet(address(bridge_));
    }

    /// @notice Stop new sessions and extensions; ending, claiming and outcomes keep working.
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @notice Resume new sessions and extensions.
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
        (amount,) = _streamed(s);
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

    function _extend(bytes32 instanceId, uint256 additionalTime) private returns (uint256 cost, uint8 provider) {
        Session storage s = _openSession(instanceId);
        if (msg.sender != agentOf(instanceId)) revert NotSessionAgent(instanceId, msg.sender);
        if (s.status == SessionStatus.Active && block.timestamp >= s.endTime) revert SessionExpired(instanceId);
        provider = s.provider;
        cost = _quote(additionalTime, provider);
        _spend(msg.sender, cost);
        uint40 newEnd = s.endTime + uint40(additionalTime);
        s.endTime = newEnd;
        s.deposited = SafeCast.toUint80(s.deposited + cost);
        emit SessionExtended(instanceId, msg.sender, additionalTime, cost, newEnd);
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

    function _permit(Permit calldata p) private {
        // Ignore failure: a front-runner may have submitted the same permit; transferFrom then decides.
        try IERC20Permit(address(usdc)).permit(msg.sender, address(this), p.value, p.deadline, p.v, p.r, p.s) {} catch {}
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

    /// @dev Ends a session: the streamed part goes to the treasury, everything else back to the agent.
    function _settle(bytes32 instanceId, Session storage s) private {
        uint256 earned;
        if (s.status == SessionStatus.Active) {
            uint256 until;
            (earned, until) = _streamed(s);
            s.settledUntil = uint40(until);
        }
        uint80 claimed = s.claimed + uint80(earned); // earned <= deposited - claimed
        uint256 refund = s.deposited - claimed;
        s.claimed = claimed;
        s.status = SessionStatus.Ended;
        address agent = agentOf(instanceId);
        address to = treasury;
        emit SessionEnded(instanceId, agent, msg.sender, earned, refund);
        if (earned > 0) usdc.safeTransfer(to, earned);
        if (refund > 0) usdc.safeTransfer(agent, refund);
    }

    /// @dev Escrow streams linearly: what is still held is spread evenly over the time still paid for,
    /// so an extension at a new price simply raises the rate from then on. At the end, all is streamed.
    function _streamed(Session storage s) private view returns (uint256 amount, uint256 until) {
        uint256 from = s.settledUntil;
        uint256 end = s.endTime;
        until = block.timestamp < end ? block.timestamp : end;
        if (until <= from) return (0, from);
        uint256 held = s.deposited - s.claimed;
        amount = until == end ? held : (held * (until - from)) / (end - from);
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
