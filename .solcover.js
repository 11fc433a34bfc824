module.exports = {
  // Test-only helpers (attacker contracts) and the local network's mintable USDC are never deployed to Base.
  skipFiles: ["test/", "localnet/"],
};
