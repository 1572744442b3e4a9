/**
 * A classic-BPF seccomp filter, generated here (no native build step) and handed to bubblewrap's
 * `--seccomp FD`. Deliberately small for now: it closes what the namespaces leave open for sockets.
 * - Only the native ABI may make system calls: another architecture (i386 on x86-64) or the x32 ABI's
 *   high-bit syscall numbers kill the process, so no rule below can be slipped past by changing ABI.
 * - socket() and socketpair() accept only AF_UNIX, AF_INET and AF_INET6; any other family (AF_VSOCK
 *   reaches the hypervisor whatever the network namespace says; AF_PACKET, AF_NETLINK, …) fails with EPERM.
 * - io_uring fails with EPERM: an IORING_OP_SOCKET in a ring would make any socket without a socket() call.
 */
export interface SeccompArch {
  readonly name: 'x86_64' | 'aarch64';
  readonly auditArch: number;
  readonly socket: number;
  readonly socketpair: number;
  /** io_uring_setup, io_uring_enter, io_uring_register: operations in a ring bypass every rule here. */
  readonly ioUring: readonly [number, number, number];
  /** Syscall numbers at or above this belong to another ABI (x32); undefined when there is none. */
  readonly foreignFrom: number | undefined;
}

export const ARCHES: Readonly<Record<string, SeccompArch>> = {
  x64: { name: 'x86_64', auditArch: 0xc000003e, socket: 41, socketpair: 53, ioUring: [425, 426, 427], foreignFrom: 0x40000000 },
  arm64: { name: 'aarch64', auditArch: 0xc00000b7, socket: 198, socketpair: 199, ioUring: [425, 426, 427], foreignFrom: undefined },
};

export const ALLOWED_FAMILIES = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10 } as const;

// BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;
export const RET_ALLOW = 0x7fff0000;
export const RET_KILL_PROCESS = 0x80000000;
export const RET_EPERM = 0x00050000 | 1;
const NR = 0;
const ARCH = 4;
const ARG0 = 16; // low 32 bits of args[0] on a little-endian machine (both supported arches are)

/** One instruction: [code, jt, jf, k]. Jumps count instructions skipped after this one. */
export type Instruction = readonly [number, number, number, number];

/** Pure: the filter as instructions, for a table test. */
export function seccompInstructions(arch: SeccompArch): Instruction[] {
  const foreign: Instruction[] = arch.foreignFrom === undefined ? [] : [[JGE_K, 0, 0, arch.foreignFrom]];
  // Layout: arch check, nr load, [x32 check], io_uring checks, socket/socketpair checks, allow, family checks, deny, allow, kill.
  const body: Instruction[] = [
    [LD_W_ABS, 0, 0, ARCH],
    [JEQ_K, 0, 0, arch.auditArch], // jf → kill, patched below
    [LD_W_ABS, 0, 0, NR],
    ...foreign, // jt → kill, patched below
    [JEQ_K, 0, 0, arch.ioUring[0]], // jt → deny, patched below
    [JEQ_K, 0, 0, arch.ioUring[1]],
    [JEQ_K, 0, 0, arch.ioUring[2]],
    [JEQ_K, 0, 0, arch.socket], // jt → family checks, patched below
    [JEQ_K, 0, 0, arch.socketpair], // jt → family checks, jf → allow (0 skips)
    [RET_K, 0, 0, RET_ALLOW],
    [LD_W_ABS, 0, 0, ARG0],
    [JEQ_K, 3, 0, ALLOWED_FAMILIES.AF_UNIX],
    [JEQ_K, 2, 0, ALLOWED_FAMILIES.AF_INET],
    [JEQ_K, 1, 0, ALLOWED_FAMILIES.AF_INET6],
    [RET_K, 0, 0, RET_EPERM],
    [RET_K, 0, 0, RET_ALLOW],
    [RET_K, 0, 0, RET_KILL_PROCESS],
  ];
  const kill = body.length - 1;
  const patch = (index: number, field: 1 | 2, target: number): void => {
    const copy = [...body[index]!] as [number, number, number, number];
    copy[field] = target - index - 1;
    body[index] = copy;
  };
  patch(1, 2, kill);
  if (foreign.length > 0) patch(3, 1, kill);
  const socketpairAt = 7 + foreign.length;
  const deny = body.length - 3; // the RET_EPERM
  for (let i = 3 + foreign.length; i < 6 + foreign.length; i++) patch(i, 1, deny);
  const familyLoad = socketpairAt + 2; // past the socketpair check's fall-through allow
  patch(socketpairAt - 1, 1, familyLoad);
  patch(socketpairAt, 1, familyLoad);
  return body;
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
