import { AARCH64, DENIED, X86_64, type SyscallTable } from './syscalls.js';

/**
 * A classic-BPF seccomp filter, generated here (no native build step, no libseccomp at run time) and
 * handed to bubblewrap's `--seccomp FD`; bwrap installs it after setting up the namespaces, before the
 * agent starts, so no user code ever runs without it.
 * - Only the native ABI may make system calls: another architecture (i386 on x86-64, arm32 on aarch64)
 *   or the x32 ABI's high-bit syscall numbers kill the process, so no rule can be slipped past by ABI.
 * - DENIED (syscalls.ts) fails with EPERM; clone3 with ENOSYS, so the C library falls back to clone,
 *   whose flags a filter can read (clone3's live in memory it cannot).
 * - clone with any namespace flag, ioctl TIOCSTI/TIOCLINUX, personality other than PER_LINUX or a
 *   query, and socket families other than AF_UNIX/AF_INET/AF_INET6 fail with EPERM.
 */
export interface SeccompArch {
  readonly name: 'x86_64' | 'aarch64';
  readonly auditArch: number;
  readonly syscalls: SyscallTable;
  /** Syscall numbers at or above this belong to another ABI (x32); undefined when there is none. */
  readonly foreignFrom: number | undefined;
}

export const ARCHES: Readonly<Record<string, SeccompArch>> = {
  x64: { name: 'x86_64', auditArch: 0xc000003e, syscalls: X86_64, foreignFrom: 0x40000000 },
  arm64: { name: 'aarch64', auditArch: 0xc00000b7, syscalls: AARCH64, foreignFrom: undefined },
};

export const ALLOWED_FAMILIES = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10 } as const;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME (linux/sched.h). */
export const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;
/** ioctl requests that push bytes into a terminal's input or its console (asm-generic/ioctls.h). */
export const DENIED_IOCTLS = { TIOCSTI: 0x5412, TIOCLINUX: 0x541c } as const;
/** personality(): PER_LINUX, and 0xffffffff which only asks. ADDR_NO_RANDOMIZE and friends are refused. */
export const ALLOWED_PERSONAS = [0x0, 0xffffffff] as const;

// BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
export const RET_ALLOW = 0x7fff0000;
export const RET_KILL_PROCESS = 0x80000000;
export const RET_EPERM = 0x00050000 | 1;
export const RET_ENOSYS = 0x00050000 | 38;
const NR = 0;
const ARCH = 4;
/** The low 32 bits of args[i] on a little-endian machine (both supported arches are): the kernel reads int/unsigned int there. */
const arg = (i: number): number => 16 + 8 * i;

/** One instruction: [code, jt, jf, k]. Jumps count instructions skipped after this one. */
export type Instruction = readonly [number, number, number, number];

type Label = 'allow' | 'eperm' | 'enosys' | 'kill' | 'clone' | 'family' | 'ioctl' | 'personality';
type Op = { at: Label } | { code: number; k: number; jt?: Label; jf?: Label };

/** The filter as labelled operations: the readable form that seccompInstructions assembles. */
function program(arch: SeccompArch): Op[] {
  const nr = (name: string): number[] => (arch.syscalls[name] === undefined ? [] : [arch.syscalls[name]]);
  const jumpIf = (k: number, to: Label): Op => ({ code: JEQ_K, k, jt: to });
  return [
    { code: LD_W_ABS, k: ARCH },
    { code: JEQ_K, k: arch.auditArch, jf: 'kill' },
    { code: LD_W_ABS, k: NR },
    ...(arch.foreignFrom === undefined ? [] : [{ code: JGE_K, k: arch.foreignFrom, jt: 'kill' as const }]),
    ...DENIED.flatMap(nr).map((n) => jumpIf(n, 'eperm')),
    ...nr('clone3').map((n) => jumpIf(n, 'enosys')),
    ...nr('clone').map((n) => jumpIf(n, 'clone')),
    ...[...nr('socket'), ...nr('socketpair')].map((n) => jumpIf(n, 'family')),
    ...nr('ioctl').map((n) => jumpIf(n, 'ioctl')),
    ...nr('personality').map((n) => jumpIf(n, 'personality')),
    { code: RET_K, k: RET_ALLOW },
    { at: 'clone' },
    { code: LD_W_ABS, k: arg(0) },
    { code: JSET_K, k: CLONE_NAMESPACE_FLAGS, jt: 'eperm', jf: 'allow' },
    { at: 'family' },
    { code: LD_W_ABS, k: arg(0) },
    ...Object.values(ALLOWED_FAMILIES).map((family) => jumpIf(family, 'allow')),
    { code: RET_K, k: RET_EPERM },
    { at: 'ioctl' },
    { code: LD_W_ABS, k: arg(1) },
    ...Object.values(DENIED_IOCTLS).map((request) => jumpIf(request, 'eperm')),
    { code: RET_K, k: RET_ALLOW },
    { at: 'personality' },
    { code: LD_W_ABS, k: arg(0) },
    ...ALLOWED_PERSONAS.map((persona) => jumpIf(persona, 'allow')),
    { code: RET_K, k: RET_EPERM },
    { at: 'allow' },
    { code: RET_K, k: RET_ALLOW },
    { at: 'eperm' },
    { code: RET_K, k: RET_EPERM },
    { at: 'enosys' },
    { code: RET_K, k: RET_ENOSYS },
    { at: 'kill' },
    { code: RET_K, k: RET_KILL_PROCESS },
  ];
}

/** Pure: the filter as instructions, labels resolved to forward jump offsets (classic BPF jumps at most 255). */
export function seccompInstructions(arch: SeccompArch): Instruction[] {
  const ops = program(arch);
  const where = new Map<Label, number>();
  let index = 0;
  for (const op of ops) {
    if ('at' in op) where.set(op.at, index);
    else index++;
  }
  const out: Instruction[] = [];
  for (const op of ops) {
    if ('at' in op) continue;
    const offset = (label: Label | undefined): number => {
      if (label === undefined) return 0;
      const distance = where.get(label)! - out.length - 1;
      if (distance < 0 || distance > 255) throw new Error(`seccomp: jump to ${label} out of range (${distance})`);
      return distance;
    };
    out.push([op.code, offset(op.jt), offset(op.jf), op.k >>> 0]);
  }
  return out;
}

/** Pure: the filter as the bytes of a struct sock_filter[] (little-endian), as bwrap reads them. */
export function seccompProgram(arch: SeccompArch): Buffer {
  const instructions = seccompInstructions(arch);
  const out = Buffer.alloc(instructions.length * 8);
  instructions.forEach(([code, jt, jf, k], i) => {
    out.writeUInt16LE(code, i * 8);
    out.writeUInt8(jt, i * 8 + 2);
    out.writeUInt8(jf, i * 8 + 3);
    out.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return out;
}
