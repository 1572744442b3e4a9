import assert from 'node:assert/strict';
import { ARCHES, seccompInstructions, seccompProgram, type Instruction } from '../../src/sandbox/seccomp.js';

// Written out by hand from linux/filter.h, linux/seccomp.h and linux/audit.h, not from the generator.
const LD = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET = 0x06; // BPF_RET | BPF_K
const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const KILL = 0x80000000;

const expected: Record<string, Instruction[]> = {
  x64: [
    [LD, 0, 0, 4], //           0 arch
    [JEQ, 0, 14, 0xc000003e], // 1 not x86-64 → 16 kill
    [LD, 0, 0, 0], //           2 nr
    [JGE, 12, 0, 0x40000000], // 3 x32 → 16 kill
    [JEQ, 9, 0, 425], //        4 io_uring_setup → 14 EPERM
    [JEQ, 8, 0, 426], //        5 io_uring_enter → 14
    [JEQ, 7, 0, 427], //        6 io_uring_register → 14
    [JEQ, 2, 0, 41], //         7 socket → 10
    [JEQ, 1, 0, 53], //         8 socketpair → 10
    [RET, 0, 0, ALLOW], //      9
    [LD, 0, 0, 16], //         10 args[0], the family
    [JEQ, 3, 0, 1], //         11 AF_UNIX → 15
    [JEQ, 2, 0, 2], //         12 AF_INET → 15
    [JEQ, 1, 0, 10], //        13 AF_INET6 → 15
    [RET, 0, 0, EPERM], //     14
    [RET, 0, 0, ALLOW], //     15
    [RET, 0, 0, KILL], //      16
  ],
  arm64: [
    [LD, 0, 0, 4],
    [JEQ, 0, 13, 0xc00000b7], // not aarch64 → 15 kill
    [LD, 0, 0, 0],
    [JEQ, 9, 0, 425], //  io_uring_setup → 13 EPERM
    [JEQ, 8, 0, 426],
    [JEQ, 7, 0, 427],
    [JEQ, 2, 0, 198], //  socket → 9
    [JEQ, 1, 0, 199], //  socketpair → 9
    [RET, 0, 0, ALLOW],
    [LD, 0, 0, 16],
    [JEQ, 3, 0, 1],
    [JEQ, 2, 0, 2],
    [JEQ, 1, 0, 10],
    [RET, 0, 0, EPERM],
    [RET, 0, 0, ALLOW],
    [RET, 0, 0, KILL],
  ],
};

describe('sandbox/seccomp', () => {
  for (const [arch, instructions] of Object.entries(expected)) {
    it(`${arch}: the exact program`, () => assert.deepEqual(seccompInstructions(ARCHES[arch]!), instructions));
    it(`${arch}: every jump lands inside the program`, () => {
      const program = seccompInstructions(ARCHES[arch]!);
      program.forEach(([code, jt, jf], i) => {
        if (code === JEQ || code === JGE) assert.ok(i + 1 + Math.max(jt, jf) < program.length, `instruction ${i}`);
      });
      assert.equal(program.at(-1)![0], RET, 'ends with a return');
    });
  }

  it('encodes struct sock_filter little-endian, 8 bytes each', () => {
    const bytes = seccompProgram(ARCHES.x64!);
    assert.equal(bytes.length, 17 * 8);
    // instruction 1: code 0x0015, jt 0, jf 14, k 0xc000003e
    assert.deepEqual([...bytes.subarray(8, 16)], [0x15, 0x00, 0x00, 0x0e, 0x3e, 0x00, 0x00, 0xc0]);
    // the last: ret KILL_PROCESS
    assert.deepEqual([...bytes.subarray(16 * 8)], [0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80]);
  });
});
