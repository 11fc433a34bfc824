/**
 * What a job answers on each backend: the three languages, stdout / stderr / exit code / time /
 * memory, a non-zero exit is a success, the deadline is EXECUTION_TIMEOUT (no refund), output caps
 * set the truncation flags, a broken sandbox is EXECUTION_ERROR (refund).
 */
import { expect } from "chai";
import { createBubblewrapBackend } from "../../../../keeper/services/execute/bubblewrapBackend";
import { createDockerBackend } from "../../../../keeper/services/execute/dockerBackend";
import { probeSandboxHost } from "../../../../keeper/sandbox";
import { ServiceError } from "../../../../keeper/services/jobService";
import { BACKENDS, ctx, serviceOn } from "./helpers";

for (const b of BACKENDS) {
  describe(`execute on ${b.name}: outcomes`, function () {
    this.timeout(60_000);
    let s: ReturnType<typeof serviceOn>;
    before(async function () {
      s = serviceOn(await b.make(this), { EXECUTE_MAX_OUTPUT_BYTES: "65536" });
    });
    const run = (language: string, code: string, extra: Record<string, unknown> = {}) =>
      s.run(s.parse({ job_id: "o1", language, code, ...extra }), ctx());

    it("python, javascript and bash: stdout, stderr, exit code, execution_ms and memory_used_mb", async () => {
      const cases = [
        ["python", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"],
        ["javascript", "console.log('out'); console.error('err'); process.exit(3)"],
        ["bash", "echo out; echo err >&2; exit 3"],
      ] as const;
      for (const [language, code] of cases) {
        const r = await run(language, code);
        expect(r.output).to.deep.include({
          stdout: "out\n",
          stderr: "err\n",
          exit_code: 3,
          stdout_truncated: false,
          stderr_truncated: false,
        });
        expect(r.metadata).to.include({ language, tier: "quick", backend: b.name });
        expect(r.metadata.execution_ms).to.be.a("number").and.to.be.at.least(0);
        expect(r.metadata.memory_used_mb).to.be.a("number").and.to.be.greaterThan(0);
      }
    });

    it("memory_used_mb follows what the program allocates", async () => {
      const small = await run("python", "print(1)");
      const big = await run("python", "b = bytearray(60 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print(len(b))");
      expect(big.output.stdout).to.equal(`${60 * 1024 * 1024}\n`);
      expect(big.metadata.memory_used_mb! - small.metadata.memory_used_mb!).to.be.greaterThan(50);
    });

    it("the deadline kills the job: EXECUTION_TIMEOUT, not refunded, with the output so far", async () => {
      const err = await run("python", "import time\nprint('before', flush=True)\ntime.sleep(30)", { timeout: 1 }).then(
        () => undefined,
        (e) => e as ServiceError,
      );
      expect(err).to.be.instanceOf(ServiceError);
      expect([err!.code, err!.details?.refund]).to.deep.equal(["EXECUTION_TIMEOUT", false]);
      expect((err!.details?.output as { stdout: string }).stdout).to.equal("before\n");
    });

    it("caps each stream at EXECUTE_MAX_OUTPUT_BYTES and reports it as truncated", async () => {
      const r = await run("python", "import sys; sys.stdout.write('x' * 1000000); sys.stdout.flush(); sys.stderr.write('e')");
      expect(r.output.stdout.length).to.equal(65536);
      expect(r.output.stdout_truncated).to.equal(true);
      expect(r.output.stderr_truncated).to.equal(false);
    });

    it("runs with exactly PATH, HOME=/tmp and LANG, and without the keeper's secrets", async () => {
      const secret = `0x${"ab".repeat(32)}`;
      process.env.KEEPER_PRIVATE_KEY = secret;
      try {
        const r = await run("javascript", "console.log(JSON.stringify(process.env))");
        const env = JSON.parse(r.output.stdout) as Record<string, string>;
        expect(env).to.include({ HOME: "/tmp", LANG: "C.UTF-8" });
        expect(Object.keys(env).filter((k) => !["PATH", "HOME", "LANG", "HOSTNAME", "PWD", "SHLVL", "_"].includes(k))).to.deep.equal([]);
        expect(r.output.stdout).not.to.contain(secret);
        const p = await run("bash", "cat /proc/1/environ /proc/self/environ 2>/dev/null | tr '\\0' '\\n'; echo; env");
        expect(p.output.stdout).not.to.contain(secret);
        expect(p.output.stdout).not.to.contain("KEEPER_PRIVATE_KEY");
      } finally {
        delete process.env.KEEPER_PRIVATE_KEY;
      }
    });
  });
}

describe("execute: a broken sandbox is EXECUTION_ERROR (refund)", function () {
  this.timeout(30_000);
  it("bwrap missing on the host", async () => {
    const s = serviceOn(createBubblewrapBackend(probeSandboxHost({ bwrap: "/nonexistent/bwrap" })));
    const err = await s.run(s.parse({ job_id: "e1", language: "bash", code: "echo hi" }), ctx()).then(
      () => undefined,
      (e) => e as ServiceError,
    );
    expect([err?.code, err?.details?.refund]).to.deep.equal(["EXECUTION_ERROR", true]);
    expect((await s.health!()).ok).to.equal(false);
  });

  it("docker: no engine at the configured socket", async () => {
    const s = serviceOn(createDockerBackend({ dockerHost: "unix:///nonexistent/docker.sock" }));
    const err = await s.run(s.parse({ job_id: "e2", language: "bash", code: "echo hi" }), ctx()).then(
      () => undefined,
      (e) => e as ServiceError,
    );
    expect([err?.code, err?.details?.refund]).to.deep.equal(["EXECUTION_ERROR", true]);
    expect((await s.health!()).ok).to.equal(false);
  });
});
