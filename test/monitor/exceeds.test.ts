import assert from 'node:assert/strict';
import { exceeds, type MonitorReason, type Sample } from '../../src/monitor/exceeds.js';

describe('monitor/exceeds', () => {
  const limits = { cpuMs: 1000, memoryBytes: 1_000_000 };
  const rows: [sample: Sample, expected: MonitorReason | undefined][] = [
    [{ cpuMs: 0, memoryBytes: 0 }, undefined],
    [{ cpuMs: 1000, memoryBytes: 1_000_000 }, undefined],
    [{ cpuMs: 1000.5, memoryBytes: 0 }, 'cpu_limit'],
    [{ cpuMs: 1001, memoryBytes: 999_999 }, 'cpu_limit'],
    [{ cpuMs: 0, memoryBytes: 1_000_001 }, 'memory_limit'],
    [{ cpuMs: 999, memoryBytes: 2_000_000 }, 'memory_limit'],
    // Both at once: memory first, it is the one that endangers the host.
    [{ cpuMs: 5000, memoryBytes: 5_000_000 }, 'memory_limit'],
  ];
  for (const [sample, expected] of rows) {
    it(`cpu ${sample.cpuMs} ms, memory ${sample.memoryBytes} B → ${expected ?? 'within limits'}`, () => assert.equal(exceeds(sample, limits), expected));
  }
});
