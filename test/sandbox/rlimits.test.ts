import assert from 'node:assert/strict';
import { toRlimits } from '../../src/sandbox/rlimits.js';
import type { Limits } from '../../src/protocol/limits.js';

const MiB = 1024 * 1024;
const contractDefaults: Limits = { timeoutMs: 10_000, cpuMs: 10_000, memoryBytes: 256 * MiB, maxProcesses: 32, maxOutputBytes: 1 * MiB, maxFileBytes: 16 * MiB };

describe('sandbox/rlimits toRlimits', () => {
  // CPU is whole seconds, one past cpuMs rounded up, so the broker's monitor (which knows why) ends the run first;
  // AS leaves room for the interpreter; processes, file size and core are exact.
  const rows: { name: string; limits: Limits; expected: ReturnType<typeof toRlimits> }[] = [
    {
      name: 'the contract defaults',
      limits: contractDefaults,
      expected: { CPU: 11, AS: 1024 * MiB, NPROC: 32, FSIZE: 16 * MiB, NOFILE: 256, CORE: 0, STACK: 8 * MiB },
    },
    {
      name: 'the smallest limits',
      limits: { timeoutMs: 1, cpuMs: 1, memoryBytes: 1, maxProcesses: 1, maxOutputBytes: 1, maxFileBytes: 1 },
      expected: { CPU: 2, AS: 2 + 512 * MiB, NPROC: 1, FSIZE: 1, NOFILE: 256, CORE: 0, STACK: 8 * MiB },
    },
    {
      name: 'a CPU limit that is not whole seconds rounds up before adding the second',
      limits: { ...contractDefaults, cpuMs: 1500, memoryBytes: 100 * MiB, maxProcesses: 7, maxFileBytes: 12345 },
      expected: { CPU: 3, AS: 712 * MiB, NPROC: 7, FSIZE: 12345, NOFILE: 256, CORE: 0, STACK: 8 * MiB },
    },
    {
      name: 'a CPU limit of exactly 2 s gives 3 s',
      limits: { ...contractDefaults, cpuMs: 2000 },
      expected: { CPU: 3, AS: 1024 * MiB, NPROC: 32, FSIZE: 16 * MiB, NOFILE: 256, CORE: 0, STACK: 8 * MiB },
    },
  ];
  for (const row of rows) it(row.name, () => assert.deepEqual(toRlimits(row.limits), row.expected));

  it('the CPU backstop is always strictly above cpuMs and AS above memoryBytes', () => {
    for (const cpuMs of [1, 999, 1000, 1001, 10_000, 299_999, 300_000]) {
      for (const memoryBytes of [1, MiB, 256 * MiB, 4096 * MiB]) {
        const r = toRlimits({ ...contractDefaults, cpuMs, memoryBytes });
        assert.ok(r.CPU * 1000 > cpuMs, `CPU ${r.CPU} s for cpuMs ${cpuMs}`);
        assert.ok(r.AS > memoryBytes, `AS ${r.AS} for memoryBytes ${memoryBytes}`);
      }
    }
  });
});
