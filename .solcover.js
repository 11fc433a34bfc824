module.exports = {
  // Test-only helpers (a mintable USDC, attacker contracts) are not product code.
  skipFiles: ["test/"],
};
