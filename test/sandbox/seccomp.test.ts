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
    [LD, 0, 0, 4], //          0 arch
    [JEQ, 0, 11, 0xc000003e], // 1 not x86-64 → 13 kill
    [LD, 0, 0, 0], //          2 nr
    [JGE, 9, 0, 0x40000000], // 3 x32 → 13 kill
    [JEQ, 2, 0, 41], //         4 socket → 7
    [JEQ, 1, 0, 53], //         5 socketpair → 7
    [RET, 0, 0, ALLOW], //      6
    [LD, 0, 0, 16], //          7 args[0], the family
    [JEQ, 3, 0, 1], //          8 AF_UNIX → 12
    [JEQ, 2, 0, 2], //          9 AF_INET → 12
    [JEQ, 1, 0, 10], //        10 AF_INET6 → 12
    [RET, 0, 0, EPERM], //     11
    [RET, 0, 0, ALLOW], //     12
    [RET, 0, 0, KILL], //      13
  ],
  arm64: [
    [LD, 0, 0, 4],
    [JEQ, 0, 10, 0xc00000b7], // not aarch64 → 12 kill
    [LD, 0, 0, 0],
    [JEQ, 2, 0, 198], //  socket → 6
    [JEQ, 1, 0, 199], //  socketpair → 6
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
    assert.equal(bytes.length, 14 * 8);
    // instruction 1: code 0x0015, jt 0, jf 11, k 0xc000003e
    assert.deepEqual([...bytes.subarray(8, 16)], [0x15, 0x00, 0x00, 0x0b, 0x3e, 0x00, 0x00, 0xc0]);
    // the last: ret KILL_PROCESS
    assert.deepEqual([...bytes.subarray(13 * 8)], [0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80]);
  });
});
