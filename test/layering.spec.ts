/**
 * The layering rules (test/shared/layering.ts) over the repository's own sources, and the checker
 * itself on in-memory samples, so a rule that could never fail would be seen here.
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { banImports, checkLayering, formatViolations, importsOf, LAYERING_RULES, SourceFile } from "./shared/layering";

const ROOT = path.resolve(__dirname, "..");
/** Folders holding the repository's TypeScript and JavaScript; a rule picks the files it judges. */
const SOURCE_ROOTS = ["keeper", "localnet", "scripts", "bench", "test"];
const SOURCE_FILE = /\.(ts|mts|cts|js|mjs|cjs)$/;

function readSources(dir: string): SourceFile[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : readSources(rel);
    return SOURCE_FILE.test(entry.name) ? [{ path: rel, text: fs.readFileSync(path.join(ROOT, rel), "utf8") }] : [];
  });
}

describe("layering", () => {
  describe("the repository", () => {
    const files = SOURCE_ROOTS.flatMap(readSources);

    it("is read: the keeper, the local network and the tests are all there", () => {
      const paths = files.map((f) => f.path);
      for (const expected of ["keeper/app.ts", "keeper/cli.ts", "localnet/chain.ts", "localnet/solana/server.ts", "test/layering.spec.ts"])
        expect(paths).to.include(expected);
    });

    it("keeps every rule", () => {
      const violations = checkLayering(files, LAYERING_RULES);
      expect(violations, `layering violations:\n${formatViolations(violations)}`).to.deep.equal([]);
    });

    it("has uniquely named rules", () => {
      const names = LAYERING_RULES.map((r) => r.name);
      expect(new Set(names).size).to.equal(names.length);
    });
  });

  describe("the checker", () => {
    const keeperFile: SourceFile = {
      path: "keeper/jobs/worker.ts",
      text: [
        'import { a } from "../../test/standins/akash/server";', // line 1
        'import type { B } from "../../scripts/lib/wattPayer";',
        'export { c } from "../../test/shared/fixtures";',
        'const d = require("../../scripts/deploy");',
        'async function e() { return import("../../test/keeper/shared/chain"); }', // line 5
        'import f = require("../../localnet/chain");',
        'import { g } from "../store/store";',
        'import { ethers } from "ethers";',
        '// import { h } from "../../test/x"; a comment is no import',
        'const i = "../../scripts/lib/system"; // nor is a string',
        'import { j } from "./test/helper"; // keeper/jobs/test/, not test/',
        'import { k } from "../../testing/x"; // a folder whose name starts like test',
      ].join("\n"),
    };

    it("reads imports, exports-from, import type, require and import() with their lines; never comments or strings", () => {
      expect(importsOf(keeperFile).map((s) => [s.line, s.specifier, s.resolved])).to.deep.equal([
        [1, "../../test/standins/akash/server", "test/standins/akash/server"],
        [2, "../../scripts/lib/wattPayer", "scripts/lib/wattPayer"],
        [3, "../../test/shared/fixtures", "test/shared/fixtures"],
        [4, "../../scripts/deploy", "scripts/deploy"],
        [5, "../../test/keeper/shared/chain", "test/keeper/shared/chain"],
        [6, "../../localnet/chain", "localnet/chain"],
        [7, "../store/store", "keeper/store/store"],
        [8, "ethers", undefined],
        [11, "./test/helper", "keeper/jobs/test/helper"],
        [12, "../../testing/x", "testing/x"],
      ]);
    });

    it("reports each offending file and specifier under the rule it breaks", () => {
      const localnetFile: SourceFile = {
        path: "localnet/solana/cli.ts",
        text: 'import { x } from "../../test/standins/faults";\nimport { y } from "./server";\n',
      };
      const testFile: SourceFile = { path: "test/keeper/x.spec.ts", text: 'import { z } from "../../scripts/lib/wattPayer";\n' };
      const violations = checkLayering([keeperFile, localnetFile, testFile], LAYERING_RULES);
      expect(violations.map((v) => [v.rule, v.file, v.line, v.specifier])).to.deep.equal([
        ["the keeper does not import tests or scripts", "keeper/jobs/worker.ts", 1, "../../test/standins/akash/server"],
        ["the keeper does not import tests or scripts", "keeper/jobs/worker.ts", 2, "../../scripts/lib/wattPayer"],
        ["the keeper does not import tests or scripts", "keeper/jobs/worker.ts", 3, "../../test/shared/fixtures"],
        ["the keeper does not import tests or scripts", "keeper/jobs/worker.ts", 4, "../../scripts/deploy"],
        ["the keeper does not import tests or scripts", "keeper/jobs/worker.ts", 5, "../../test/keeper/shared/chain"],
        [
          "the keeper reaches the local network only from its embedded default (keeper/app.ts)",
          "keeper/jobs/worker.ts",
          6,
          "../../localnet/chain",
        ],
        ["the local network does not import tests or scripts", "localnet/solana/cli.ts", 1, "../../test/standins/faults"],
      ]);
      const report = formatViolations(violations);
      expect(report).to.include(
        'the keeper does not import tests or scripts:\n  keeper/jobs/worker.ts:1 imports "../../test/standins/akash/server" (resolves to test/standins/akash/server, under test/)',
      );
      expect(report).to.include(
        'the local network does not import tests or scripts:\n  localnet/solana/cli.ts:1 imports "../../test/standins/faults"',
      );
    });

    it("lets the embedded default (keeper/app.ts) start the local network, and nothing else in the keeper", () => {
      const app: SourceFile = { path: "keeper/app.ts", text: 'import { startLocalChain } from "../localnet/chain";\n' };
      const cli: SourceFile = { path: "keeper/cli.ts", text: 'import { devWallet } from "../localnet/chain";\n' };
      expect(checkLayering([app, cli], LAYERING_RULES).map((v) => v.file)).to.deep.equal(["keeper/cli.ts"]);
    });

    it("keeps SQL, connection calls and drivers inside keeper/store/", () => {
      const rule = LAYERING_RULES.find((r) => r.name.startsWith("the keeper reaches its database"))!;
      const domain: SourceFile = {
        path: "keeper/jobs/ledger.ts",
        text: [
          'import Database from "better-sqlite3";', // line 1
          'import type { DB } from "../store/db";',
          'import { Store } from "../store/store";',
          'const row = db.prepare("SELECT balance FROM balances WHERE agent = ?").get(a);',
          "db.transaction(() => credit())();", // line 5
          "const q = `UPDATE jobs SET state = 'done' WHERE id = ${id}`;",
          'log.info("select a provider from the list"); // prose, not SQL',
          "/^SELECT/.exec(text); // a RegExp is no query",
          "await store.tx(async () => store.ledger.credit(a, 1n));",
          'const s = "INSERT OR IGNORE INTO seen (sig) VALUES (?)";', // line 10
        ].join("\n"),
      };
      expect(rule.check(domain).map((v) => [v.line, v.reason])).to.deep.equal([
        [1, "a database driver"],
        [2, "the store's internals (keeper/store/db)"],
        [4, "a database connection's method"],
        [4, "SQL text"],
        [5, "a database connection's method"],
        [6, "SQL text"],
        [10, "SQL text"],
      ]);
      // Inside the store, all of it is the point.
      expect(rule.check({ ...domain, path: "keeper/store/ledger.ts" })).to.deep.equal([]);
      // Tests and scripts may read the database directly to check what the keeper wrote.
      expect(rule.check({ ...domain, path: "test/keeper/jobs/ledger.spec.ts" })).to.deep.equal([]);
    });

    it("judges only the files a rule names (exact folders, not name prefixes)", () => {
      const rule = banImports({ name: "sample", from: ["keeper"], to: ["test"] });
      const outside: SourceFile = { path: "keepers/x.ts", text: 'import "../test/y";\n' };
      const inside: SourceFile = { path: "keeper/x.ts", text: 'import "../test/y";\n' };
      expect(checkLayering([outside, inside], [rule]).map((v) => v.file)).to.deep.equal(["keeper/x.ts"]);
    });
  });
});
