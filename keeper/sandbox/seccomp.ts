/**
 * A seccomp filter for the bubblewrap sandbox, compiled to classic BPF here (no libseccomp needed):
 * bwrap --seccomp FD loads it right before exec'ing the workload.
 *
 * Deny-list in the spirit of Docker's default profile: kernel-module, mount, namespace, keyring,
 * bpf / perf / io_uring, ptrace and process_vm_*, clock and reboot calls fail with EPERM. Any other
 * ABI than the host's own (32-bit int 0x80 on x86_64, x32) kills the process, so the list cannot be
 * bypassed with another syscall table. Docker applies its own default profile, so this is only
 * used for bwrap.
 */
import os from "node:os";

/** Syscalls the sandbox may not make. Absent from an architecture's table means "does not exist there". */
export const DENIED_SYSCALLS = [
  "acct",
  "add_key",
  "bpf",
  "clock_adjtime",
  "clock_settime",
  "create_module",
  "delete_module",
  "finit_module",
  "fsconfig",
  "fsmount",
  "fsopen",
  "fspick",
  "get_kernel_syms",
  "init_module",
  "io_uring_enter",
  "io_uring_register",
  "io_uring_setup",
  "ioperm",
  "iopl",
  "kcmp",
  "kexec_file_load",
  "kexec_load",
  "keyctl",
  "lookup_dcookie",
  "mount",
  "mount_setattr",
  "move_mount",
  "move_pages",
  "name_to_handle_at",
  "nfsservctl",
  "open_by_handle_at",
  "open_tree",
  "perf_event_open",
  "pivot_root",
  "process_vm_readv",
  "process_vm_writev",
  "ptrace",
  "query_module",
  "quotactl",
  "quotactl_fd",
  "reboot",
  "request_key",
  "setns",
  "settimeofday",
  "swapoff",
  "swapon",
  "syslog",
  "sysfs",
  "_sysctl",
  "umount2",
  "unshare",
  "uselib",
  "userfaultfd",
  "ustat",
  "vhangup",
] as const;

type Table = Partial<Record<(typeof DENIED_SYSCALLS)[number], number>>;

/** From /usr/include/x86_64-linux-gnu/asm/unistd_64.h. */
const X86_64: Table = {
  acct: 163,
  add_key: 248,
  bpf: 321,
  clock_adjtime: 305,
  clock_settime: 227,
  create_module: 174,
  delete_module: 176,
  finit_module: 313,
  fsconfig: 431,
  fsmount: 432,
  fsopen: 430,
  fspick: 433,
  get_kernel_syms: 177,
  init_module: 175,
  io_uring_enter: 426,
  io_uring_register: 427,
  io_uring_setup: 425,
  ioperm: 173,
  iopl: 172,
  kcmp: 312,
  kexec_file_load: 320,
  kexec_load: 246,
  keyctl: 250,
  lookup_dcookie: 212,
  mount: 165,
  mount_setattr: 442,
  move_mount: 429,
  move_pages: 279,
  name_to_handle_at: 303,
  nfsservctl: 180,
  open_by_handle_at: 304,
  open_tree: 428,
  perf_event_open: 298,
  pivot_root: 155,
  process_vm_readv: 310,
  process_vm_writev: 311,
  ptrace: 101,
  query_module: 178,
  quotactl: 179,
  quotactl_fd: 443,
  reboot: 169,
  request_key: 249,
  setns: 308,
  settimeofday: 164,
  swapoff: 168,
  swapon: 167,
  syslog: 103,
  sysfs: 139,
  _sysctl: 156,
  umount2: 166,
  unshare: 272,
  uselib: 134,
  userfaultfd: 323,
  ustat: 136,
  vhangup: 153,
};

/** From /usr/include/asm-generic/unistd.h (arm64 uses the generic table). */
const AARCH64: Table = {
  acct: 89,
  add_key: 217,
  bpf: 280,
  clock_adjtime: 266,
  clock_settime: 112,
  delete_module: 106,
  finit_module: 273,
  fsconfig: 431,
  fsmount: 432,
  fsopen: 430,
  fspick: 433,
  init_module: 105,
  io_uring_enter: 426,
  io_uring_register: 427,
  io_uring_setup: 425,
  kcmp: 272,
  kexec_file_load: 294,
  kexec_load: 104,
  keyctl: 219,
  lookup_dcookie: 18,
  mount: 40,
  mount_setattr: 442,
  move_mount: 429,
  move_pages: 239,
  name_to_handle_at: 264,
  nfsservctl: 42,
  open_by_handle_at: 265,
  open_tree: 428,
  perf_event_open: 241,
  pivot_root: 41,
  process_vm_readv: 270,
  process_vm_writev: 271,
  ptrace: 117,
  quotactl: 60,
  quotactl_fd: 443,
  reboot: 142,
  request_key: 218,
  setns: 268,
  settimeofday: 170,
  swapoff: 225,
  swapon: 224,
  syslog: 116,
  umount2: 39,
  unshare: 97,
  userfaultfd: 282,
  vhangup: 58,
};

const ARCHES: Record<string, { audit: number; table: Table; x32Bit?: number }> = {
  x64: { audit: 0xc000003e, table: X86_64, x32Bit: 0x40000000 },
  arm64: { audit: 0xc00000b7, table: AARCH64 },
};

// classic BPF opcodes
const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_RET_K = 0x06;
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export function seccompSupported(arch: string = process.arch): boolean {
  return arch in ARCHES;
}

/** The filter as instructions (for tests), or undefined on an architecture without a table. */
export function seccompProgram(arch: string = process.arch): BpfInstruction[] | undefined {
  const a = ARCHES[arch];
  if (!a) return undefined;
  const nrs = [...new Set(DENIED_SYSCALLS.map((s) => a.table[s]).filter((n): n is number => n !== undefined))].sort((x, y) => x - y);
  const prog: BpfInstruction[] = [
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 4 }, // seccomp_data.arch
    { code: BPF_JMP_JEQ_K, jt: 1, jf: 0, k: a.audit },
    { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_KILL_PROCESS },
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 0 }, // seccomp_data.nr
  ];
  // Jumps are filled in once the position of the EPERM return is known.
  const checks: BpfInstruction[] = [];
  if (a.x32Bit !== undefined) checks.push({ code: BPF_JMP_JGE_K, jt: 0, jf: 0, k: a.x32Bit });
  for (const nr of nrs) checks.push({ code: BPF_JMP_JEQ_K, jt: 0, jf: 0, k: nr });
  const denyIndex = prog.length + checks.length + 1; // after the ALLOW return
  checks.forEach((c, i) => {
    const jt = denyIndex - (prog.length + i) - 1;
    if (jt > 255) throw new Error("seccomp filter too long for 8-bit jumps");
    c.jt = jt;
  });
  prog.push(...checks);
  prog.push({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
  prog.push({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | EPERM });
  return prog;
}

/** The filter as bytes (struct sock_filter[], native byte order), as bwrap --seccomp reads it. */
export function buildSeccompFilter(arch: string = process.arch): Buffer | undefined {
  const prog = seccompProgram(arch);
  if (!prog) return undefined;
  const le = os.endianness() === "LE";
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((ins, i) => {
    const o = i * 8;
    if (le) {
      buf.writeUInt16LE(ins.code, o);
      buf.writeUInt32LE(ins.k >>> 0, o + 4);
    } else {
      buf.writeUInt16BE(ins.code, o);
      buf.writeUInt32BE(ins.k >>> 0, o + 4);
    }
    buf.writeUInt8(ins.jt, o + 2);
    buf.writeUInt8(ins.jf, o + 3);
  });
  return buf;
}
