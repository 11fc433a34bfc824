/**
 * The API harness as its own process (kill -9 tests, benchmarks): HARNESS_DATA_DIR is its data
 * directory, HARNESS_ENV a JSON object of extra settings. Prints {"url": ...} once listening.
 */
import { startApiHarness } from "./harness";

// Only when run as a program: `hardhat test` loads every file under test/.
if (require.main === module) {
  startApiHarness(JSON.parse(process.env.HARNESS_ENV ?? "{}"), process.env.HARNESS_DATA_DIR!).then(
    (h) => {
      process.stdout.write(JSON.stringify({ url: h.url }) + "\n");
      process.once("SIGTERM", () => void h.close().then(() => process.exit(0)));
    },
    // The parent waits for the url line: say why it will never come, and exit non-zero.
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
