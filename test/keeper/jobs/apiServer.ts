/** The API harness as its own process (for kill -9 tests): prints {"url": ...} once listening. */
import { startApiHarness } from "./harness";

startApiHarness({}, process.env.HARNESS_DATA_DIR!).then((h) => {
  process.stdout.write(JSON.stringify({ url: h.url }) + "\n");
});
