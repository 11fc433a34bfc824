/**
 * Escape attempts, as one table run on each backend. Each is contained: the job ends with the
 * expected answer, none of its processes survive on the host, the host's process count and available
 * memory are back near where they were, and the next job runs normally.
 *
 * Network probes only ever target 127.0.0.1 listeners opened by this test.
 */
import { expect } from "chai";
import dgram from "node:dgram";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ExecuteResult } from "../../../../keeper/services/execute";
import { ServiceError } from "../../../../keeper/services/jobService";
import { listener } from "../../providers/helpers";
import { BACKENDS, ctx, hostHealth, marker, processesWith, serviceOn } from "./helpers";

interface Env {
  tcpPort: number;
  udpPort: number;
  secretFile: string;
  keeperPid: number;
}

interface Attempt {
  name: string;
  language: "python" | "bash" | "javascript";
  code: (e: Env, mark: string) => string;
  timeout?: number;
  memory_mb?: number;
  /** Checks the answer (a result or the ServiceError). */
  expect: (r: ExecuteResult | ServiceError, e: Env) => void;
}

const ok = (r: ExecuteResult | ServiceError): ExecuteResult => {
  if (r instanceof ServiceError) throw new Error(`expected a result, got ${r.code}: ${r.message}`);
  return r;
};
const timedOut = (r: ExecuteResult | ServiceError) => {
  expect(r).to.be.instanceOf(ServiceError);
  expect((r as ServiceError).code).to.equal("EXECUTION_TIMEOUT");
};

const ATTEMPTS: Attempt[] = [
  {
    name: "TCP to the host's 127.0.0.1 listener",
    language: "python",
    code: (e) =>
      `import socket\ntry:\n  socket.create_connection(("127.0.0.1", ${e.tcpPort}), timeout=2); print("CONNECTED")\nexcept OSError as x:\n  print("BLOCKED", x.errno)`,
    expect: (r) => expect(ok(r).output.stdout).to.match(/^BLOCKED/),
  },
  {
    name: "DNS query to a resolver on the host's 127.0.0.1 (UDP)",
    language: "python",
    code: (e) =>
      `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(1)\ntry:\n  s.sendto(b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01", ("127.0.0.1", ${e.udpPort})); s.recvfrom(512); print("ANSWERED")\nexcept OSError as x:\n  print("BLOCKED")`,
    // Only a resolver on the host's loopback is tried: a real name lookup would use the host's
    // configured resolver, which may not be on 127.0.0.0/8, if the sandbox had a network.
    expect: (r) => expect(ok(r).output.stdout).to.equal("BLOCKED\n"),
  },
  {
    name: "raw socket",
    language: "python",
    code: () =>
      `import socket\ntry:\n  socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print("RAW")\nexcept OSError as x:\n  print("DENIED")`,
    expect: (r) => expect(ok(r).output.stdout).to.equal("DENIED\n"),
  },
  {
    name: "writing outside the work dir",
    language: "python",
    code: () =>
      `import os\nres = []\nfor p in ["/evil", "/etc/evil", "/usr/evil", "/usr/bin/python3", "/proc/sys/kernel/hostname"]:\n  try:\n    open(p, "a").write("x"); res.append("WROTE " + p)\n  except OSError:\n    pass\nopen("/tmp/ok", "w").write("fine")\nprint(res, open("/tmp/ok").read())`,
    expect: (r) => expect(ok(r).output.stdout).to.equal("[] fine\n"),
  },
  {
    name: "reading the keeper's environment and files",
    language: "python",
    code: (e) =>
      `import os\nfound = []\nfor p in [${JSON.stringify(e.secretFile)}, "/proc/${e.keeperPid}/environ", "/proc/1/environ", ${JSON.stringify(path.resolve(__dirname, "../../../../package.json"))}, "/root/.bashrc", "/etc/shadow"]:\n  try:\n    d = open(p, "rb").read()\n    if b"SECRET" in d or b"hardhat" in d or b"root:" in d: found.append(p)\n  except OSError:\n    pass\nprint(found, "SECRET" in str(dict(os.environ)))`,
    expect: (r) => expect(ok(r).output.stdout).to.equal("[] False\n"),
  },
  {
    name: "seeing host processes",
    language: "python",
    code: (e) =>
      `import os\npids = [int(p) for p in os.listdir("/proc") if p.isdigit()]\nprint(len(pids) <= 4, ${e.keeperPid} in pids and open("/proc/${e.keeperPid}/cmdline").read().find("node") >= 0)`,
    expect: (r) => expect(ok(r).output.stdout).to.equal("True False\n"),
  },
  {
    name: "fork bomb",
    language: "bash",
    code: (_e, m) => `# ${m}\nf() { f | f & }; f; wait`,
    timeout: 3,
    expect: (r) => {
      if (r instanceof ServiceError) return timedOut(r);
      expect(r.output.exit_code).to.be.a("number");
    },
  },
  {
    name: "memory bomb",
    language: "python",
    memory_mb: 64,
    code: () => `x = []\nwhile True:\n  x.append(bytearray(16 * 1024 * 1024))`,
    expect: (r) => {
      const res = ok(r);
      expect(res.output.exit_code).to.not.equal(0);
      expect(res.output.oom_killed || /MemoryError/.test(res.output.stderr)).to.equal(true);
    },
  },
  {
    name: "disk filler",
    language: "python",
    code: () =>
      `try:\n  f = open("/tmp/fill", "wb")\n  while True:\n    f.write(b"x" * 1048576); f.flush()\nexcept OSError as x:\n  print("FULL", x.errno)`,
    expect: (r) => expect(ok(r).output.stdout).to.match(/^FULL (27|28)\n$/), // EFBIG (RLIMIT_FSIZE) or ENOSPC (tmpfs)
  },
  {
    name: "infinite loop",
    language: "javascript",
    code: () => `for (;;) {}`,
    timeout: 1,
    expect: timedOut,
  },
  {
    name: "a child left running after exit",
    language: "python",
    code: (_e, m) =>
      `import subprocess\nsubprocess.Popen(["/usr/bin/python3", "-c", "import time, os; os.setsid(); time.sleep(300) # ${m}"], start_new_session=True)\nprint("LEFT")`,
    expect: (r) => expect(ok(r).output.stdout).to.equal("LEFT\n"),
  },
  {
    name: "huge output",
    language: "bash",
    code: () => `while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done`,
    expect: (r) => {
      const res = ok(r);
      expect(res.output.stdout_truncated).to.equal(true);
      expect(res.output.stdout.length).to.equal(1024 * 1024);
    },
  },
  {
    name: "ptrace of a process outside the sandbox",
    language: "python",
    code: (e) =>
      `import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.ptrace(16, ${e.keeperPid}, 0, 0)\nprint(r, ctypes.get_errno() != 0)`,
    expect: (r) => expect(ok(r).output.stdout).to.equal("-1 True\n"),
  },
  {
    name: "mounting and new namespaces",
    language: "python",
    code: () =>
      `import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nm = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)\nu = libc.unshare(0x10000000)\nn = libc.unshare(0x00020000)\nprint(m, u, n)`,
    expect: (r) => expect(ok(r).output.stdout).to.equal("-1 -1 -1\n"),
  },
  {
    name: "setuid binaries and becoming root",
    language: "python",
    code: () =>
      `import os, stat\nst = open("/proc/self/status").read()\nnnp = [l for l in st.splitlines() if l.startswith(("NoNewPrivs", "CapEff", "CapPrm"))]\ntry:\n  os.setuid(0); print("ROOT")\nexcept OSError:\n  pass\nsuid = []\nfor d in ["/usr/bin", "/bin", "/usr/sbin"]:\n  try:\n    for f in os.listdir(d):\n      p = os.path.join(d, f)\n      s = os.stat(p)\n      if s.st_mode & stat.S_ISUID and s.st_uid == 0: suid.append(p)\n  except OSError:\n    pass\nprint(os.geteuid(), nnp, len(suid) == 0 or "nosuid" in open("/proc/self/mounts").read() or nnp[0].endswith("1"))`,
    expect: (r) =>
      expect(ok(r).output.stdout).to.equal("65534 ['CapPrm:\\t0000000000000000', 'CapEff:\\t0000000000000000', 'NoNewPrivs:\\t1'] True\n"),
  },
];

for (const b of BACKENDS) {
  describe(`execute on ${b.name}: escape attempts are contained`, function () {
    this.timeout(120_000);
    let s: ReturnType<typeof serviceOn>;
    let tcp: Awaited<ReturnType<typeof listener>>;
    let udp: dgram.Socket;
    let udpMessages = 0;
    let env: Env;
    let dir: string;

    before(async function () {
      s = serviceOn(await b.make(this));
      tcp = await listener();
      udp = dgram.createSocket("udp4");
      udp.on("message", () => udpMessages++);
      await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "ac-exec-escape-"));
      const secretFile = path.join(dir, "keeper-secret");
      fs.writeFileSync(secretFile, "SECRET=0xdeadbeef\n", { mode: 0o644 });
      env = { tcpPort: tcp.port, udpPort: (udp.address() as { port: number }).port, secretFile, keeperPid: process.pid };
    });
    after(async () => {
      await tcp?.close();
      udp?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    for (const a of ATTEMPTS) {
      it(a.name, async () => {
        const before = hostHealth();
        const mark = marker();
        const req = s.parse({
          job_id: `esc-${b.name}`,
          language: a.language,
          code: a.code(env, mark),
          timeout: a.timeout ?? 5,
          memory_mb: a.memory_mb ?? 128,
        });
        const r = await s.run(req, ctx()).catch((e) => {
          if (e instanceof ServiceError && e.code !== "EXECUTION_ERROR") return e;
          throw e;
        });
        a.expect(r, env);
        // Contained: nothing of the job is left, no connection reached the host, the host is healthy.
        await new Promise((res) => setTimeout(res, 200));
        expect(processesWith(mark), "processes of the job left on the host").to.deep.equal([]);
        expect(tcp.connections()).to.equal(0);
        expect(udpMessages).to.equal(0);
        const after = hostHealth();
        expect(after.processes, "host process count").to.be.below(before.processes + 40);
        expect(after.memAvailableMb, "host available memory (MiB)").to.be.above(before.memAvailableMb - 300);
        const next = await s.run(s.parse({ job_id: "next", language: "python", code: "print(6*7)" }), ctx());
        expect(next.output).to.include({ stdout: "42\n", exit_code: 0 });
      });
    }
  });
}
