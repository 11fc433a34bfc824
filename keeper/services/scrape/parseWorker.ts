/** A parse worker (parsePool.ts): runs ParseTasks, answers {id, data} or {id, error: {extract, message}}. */
import { parentPort } from "node:worker_threads";
import { ExtractError, runParse, ParseTask } from "./parse";

parentPort!.on("message", (m: { id: number; task: ParseTask }) => {
  try {
    parentPort!.postMessage({ id: m.id, data: runParse(m.task) });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: { extract: e instanceof ExtractError, message: (e as Error).message } });
  }
});
