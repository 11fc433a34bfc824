// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {LocalUSDC} from "../localnet/LocalUSDC.sol";

/// @notice Test-only USDC with Circle's blacklist: a blacklisted address can neither send nor receive,
/// as on Base's USDC. Anyone may blacklist: it only ever exists in tests.
contract BlacklistingUSDC is LocalUSDC {
    mapping(address account => bool) public isBlacklisted;

    error Blacklisted(address account);

    function blacklist(address account, bool listed) external {
        isBlacklisted[account] = listed;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (isBlacklisted[from]) revert Blacklisted(from);
        if (isBlacklisted[to]) revert Blacklisted(to);
        super._update(from, to, value);
    }
}
