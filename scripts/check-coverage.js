// Fails unless `hardhat coverage` measured 100% of lines and at least 95% of branches over contracts/
// (test-only and local-network contracts are skipped in .solcover.js). Reads the istanbul output coverage.json.
const fs = require("node:fs");

const LINES = 100;
const BRANCHES = 95;
const data = JSON.parse(fs.readFileSync("coverage.json", "utf8"));
let lines = [0, 0];
let branches = [0, 0];
for (const [file, cov] of Object.entries(data)) {
  if (!/(^|\/)contracts\//.test(file) || /(^|\/)contracts\/(test|localnet)\//.test(file)) continue;
  const lineHits = {};
  for (const [id, loc] of Object.entries(cov.statementMap)) {
    const line = loc.start.line;
    lineHits[line] = (lineHits[line] ?? 0) + cov.s[id];
  }
  lines[0] += Object.values(lineHits).filter((n) => n > 0).length;
  lines[1] += Object.keys(lineHits).length;
  for (const counts of Object.values(cov.b)) {
    branches[0] += counts.filter((n) => n > 0).length;
    branches[1] += counts.length;
  }
}
if (lines[1] === 0) {
  console.error("coverage.json holds no contract under contracts/: did coverage run?");
  process.exit(1);
}
const pct = ([hit, all]) => (all === 0 ? 100 : (100 * hit) / all);
const l = pct(lines);
const b = pct(branches);
console.log(
  `coverage of contracts/: lines ${l.toFixed(2)}% (${lines[0]}/${lines[1]}), branches ${b.toFixed(2)}% (${branches[0]}/${branches[1]})`,
);
if (l < LINES || b < BRANCHES) {
  console.error(`coverage below target: lines must be ${LINES}%, branches at least ${BRANCHES}%`);
  process.exit(1);
}
