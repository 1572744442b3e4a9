import assert from 'node:assert/strict';
import { ARCHES, seccompInstructions, seccompProgram, type Instruction } from '../../src/sandbox/seccomp.js';

// Written out by hand from linux/filter.h, linux/seccomp.h, linux/audit.h and the uapi unistd headers, not from the generator.
const LD = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET = 0x06; // BPF_RET | BPF_K
const ALLOW = 0x7fff0000;
const KILL = 0x80000000;
const errno = (n: number): number => 0x00050000 | n;
const EPERM = errno(1);
const ENOSYS = errno(38);
const AUDIT_ARCH = { x86_64: 0xc000003e, i386: 0x40000003, aarch64: 0xc00000b7, arm: 0x40000028 };

/** An independent classic-BPF interpreter over struct seccomp_data: what the kernel would answer. */
function run(program: readonly Instruction[], data: { nr: number; arch: number; args?: number[] }): number {
  const word = (offset: number): number => {
    if (offset === 0) return data.nr >>> 0;
    if (offset === 4) return data.arch >>> 0;
    if (offset >= 16 && offset < 64 && offset % 8 === 0) return (data.args?.[(offset - 16) / 8] ?? 0) >>> 0;
    throw new Error(`unexpected load offset ${offset}`);
  };
  let acc = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const [code, jt, jf, k] = program[pc]!;
    if (code === LD) acc = word(k);
    else if (code === RET) return k >>> 0;
    else if (code === JEQ) pc += acc === k ? jt : jf;
    else if (code === JGE) pc += acc >= k ? jt : jf;
    else if (code === JSET) pc += (acc & k) !== 0 ? jt : jf;
    else throw new Error(`unexpected opcode ${code} at ${pc}`);
  }
  throw new Error('fell off the end of the program');
}

type Row = [what: string, nr: number, args: number[], expected: number];
const CLONE_NEWUSER = 0x10000000;
const SIGCHLD = 17;
const FORK_FLAGS = 0x01200000 | SIGCHLD; // CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, as glibc's fork
const THREAD_FLAGS = 0x003d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID, as pthread_create

const rows: Record<'x64' | 'arm64', Row[]> = {
  x64: [
    ['read', 0, [], ALLOW], ['write', 1, [], ALLOW], ['openat', 257, [], ALLOW], ['exit_group', 231, [], ALLOW],
    ['ptrace', 101, [], EPERM], ['process_vm_readv', 310, [], EPERM], ['process_vm_writev', 311, [], EPERM],
    ['add_key', 248, [], EPERM], ['request_key', 249, [], EPERM], ['keyctl', 250, [], EPERM],
    ['bpf', 321, [], EPERM], ['perf_event_open', 298, [], EPERM], ['userfaultfd', 323, [], EPERM],
    ['io_uring_setup', 425, [], EPERM], ['io_uring_enter', 426, [], EPERM], ['io_uring_register', 427, [], EPERM],
    ['mount', 165, [], EPERM], ['umount2', 166, [], EPERM], ['fsopen', 430, [], EPERM], ['fsconfig', 431, [], EPERM],
    ['fsmount', 432, [], EPERM], ['fspick', 433, [], EPERM], ['move_mount', 429, [], EPERM], ['open_tree', 428, [], EPERM],
    ['mount_setattr', 442, [], EPERM], ['pivot_root', 155, [], EPERM], ['unshare', 272, [], EPERM], ['setns', 308, [], EPERM],
    ['kexec_load', 246, [], EPERM], ['kexec_file_load', 320, [], EPERM], ['init_module', 175, [], EPERM],
    ['finit_module', 313, [], EPERM], ['delete_module', 176, [], EPERM], ['reboot', 169, [], EPERM],
    ['swapon', 167, [], EPERM], ['swapoff', 168, [], EPERM], ['acct', 163, [], EPERM], ['open_by_handle_at', 304, [], EPERM],
    ['shmget', 29, [], EPERM], ['msgget', 68, [], EPERM], ['semget', 64, [], EPERM], ['mq_open', 240, [], EPERM],
    ['clone3', 435, [], ENOSYS],
    ['clone as fork', 56, [FORK_FLAGS], ALLOW], ['clone as pthread_create', 56, [THREAD_FLAGS], ALLOW],
    ['clone CLONE_NEWUSER', 56, [CLONE_NEWUSER | SIGCHLD], EPERM], ['clone CLONE_NEWNS', 56, [0x00020000], EPERM],
    ['clone CLONE_NEWNET', 56, [0x40000000], EPERM], ['clone CLONE_NEWTIME', 56, [0x80], EPERM],
    ['socket AF_UNIX', 41, [1], ALLOW], ['socket AF_INET', 41, [2], ALLOW], ['socket AF_INET6', 41, [10], ALLOW],
    ['socket AF_NETLINK', 41, [16], EPERM], ['socket AF_PACKET', 41, [17], EPERM], ['socket AF_VSOCK', 41, [40], EPERM],
    ['socketpair AF_UNIX', 53, [1], ALLOW], ['socketpair AF_VSOCK', 53, [40], EPERM],
    ['ioctl TCGETS', 16, [0, 0x5401], ALLOW], ['ioctl FIONREAD', 16, [0, 0x541b], ALLOW],
    ['ioctl TIOCSTI', 16, [0, 0x5412], EPERM], ['ioctl TIOCLINUX', 16, [0, 0x541c], EPERM],
    ['personality(PER_LINUX)', 135, [0], ALLOW], ['personality query', 135, [0xffffffff], ALLOW],
    ['personality(ADDR_NO_RANDOMIZE)', 135, [0x0040000], EPERM], ['personality(PER_LINUX32)', 135, [0x8], EPERM],
    ['x32 getpid', 0x40000000 | 39, [], KILL], ['x32 ptrace', 0x40000000 | 101, [], KILL],
  ],
  arm64: [
    ['read', 63, [], ALLOW], ['openat', 56, [], ALLOW], ['exit_group', 94, [], ALLOW],
    ['ptrace', 117, [], EPERM], ['process_vm_readv', 270, [], EPERM], ['keyctl', 219, [], EPERM], ['bpf', 280, [], EPERM],
    ['perf_event_open', 241, [], EPERM], ['userfaultfd', 282, [], EPERM], ['io_uring_setup', 425, [], EPERM],
    ['mount', 40, [], EPERM], ['umount2', 39, [], EPERM], ['pivot_root', 41, [], EPERM], ['unshare', 97, [], EPERM],
    ['setns', 268, [], EPERM], ['kexec_load', 104, [], EPERM], ['init_module', 105, [], EPERM], ['reboot', 142, [], EPERM],
    ['swapon', 224, [], EPERM], ['acct', 89, [], EPERM], ['shmget', 194, [], EPERM], ['msgget', 186, [], EPERM], ['semget', 190, [], EPERM], ['mq_open', 180, [], EPERM],
    ['clone3', 435, [], ENOSYS], ['clone as fork', 220, [FORK_FLAGS], ALLOW], ['clone CLONE_NEWUSER', 220, [CLONE_NEWUSER], EPERM],
    ['socket AF_INET', 198, [2], ALLOW], ['socket AF_VSOCK', 198, [40], EPERM], ['socketpair AF_NETLINK', 199, [16], EPERM],
    ['ioctl TIOCSTI', 29, [0, 0x5412], EPERM], ['ioctl TCGETS', 29, [0, 0x5401], ALLOW],
    ['personality(ADDR_NO_RANDOMIZE)', 92, [0x0040000], EPERM], ['personality(PER_LINUX)', 92, [0], ALLOW],
    // no x32 on aarch64: a number that high is simply not a system call, and the kernel answers ENOSYS
    ['0x40000027', 0x40000027, [], ALLOW],
  ],
};

describe('sandbox/seccomp', () => {
  for (const [arch, table] of Object.entries(rows) as ['x64' | 'arm64', Row[]][]) {
    const program = seccompInstructions(ARCHES[arch]!);
    const native = arch === 'x64' ? AUDIT_ARCH.x86_64 : AUDIT_ARCH.aarch64;
    for (const [what, nr, args, expected] of table) {
      it(`${arch}: ${what} → ${expected === ALLOW ? 'allow' : expected === KILL ? 'kill' : `errno ${expected & 0xffff}`}`, () => {
        assert.equal(run(program, { nr, arch: native, args }), expected);
      });
    }
    it(`${arch}: the high 32 bits of an ioctl request are ignored, as the kernel ignores them (TIOCSTI | 1<<32 is TIOCSTI)`, () => {
      // The filter reads only the low word of args[1]; a 64-bit compare would let 0x1_00005412 through.
      const nr = arch === 'x64' ? 16 : 29;
      assert.equal(run(program, { nr, arch: native, args: [0, 0x5412] }), EPERM);
      assert.ok(program.every(([code, , , k]) => code !== LD || k !== 16 + 8 + 4), 'never loads the high word of args[1]');
    });
    it(`${arch}: a foreign architecture is killed before any rule, even for an allowed number`, () => {
      for (const foreign of arch === 'x64' ? [AUDIT_ARCH.i386, AUDIT_ARCH.aarch64] : [AUDIT_ARCH.arm, AUDIT_ARCH.x86_64]) {
        assert.equal(run(program, { nr: 0, arch: foreign }), KILL);
        assert.equal(run(program, { nr: 3, arch: foreign }), KILL);
      }
    });
    it(`${arch}: every jump lands inside the program, which ends with a return`, () => {
      program.forEach(([code, jt, jf], i) => {
        if (code === JEQ || code === JGE || code === JSET) assert.ok(i + 1 + Math.max(jt, jf) < program.length, `instruction ${i}`);
      });
      assert.equal(program.at(-1)![0], RET);
    });
  }

  it('starts by checking the architecture, and encodes struct sock_filter little-endian, 8 bytes each', () => {
    const bytes = seccompProgram(ARCHES.x64!);
    const count = seccompInstructions(ARCHES.x64!).length;
    assert.equal(bytes.length, count * 8);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x20, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00]); // ld [4] (arch)
    assert.deepEqual([...bytes.subarray(8, 12)], [0x15, 0x00, 0x00, bytes[11]]); // jeq, jt 0, jf → kill
    assert.deepEqual([...bytes.subarray(12, 16)], [0x3e, 0x00, 0x00, 0xc0]); // AUDIT_ARCH_X86_64
    assert.deepEqual([...bytes.subarray((count - 1) * 8)], [0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80]); // ret KILL_PROCESS
  });
});
