import assert from 'node:assert/strict';
import type { MonitorReason, Sample } from '../../src/monitor/exceeds.js';
import { MAX_DEFER_MS, Monitor, nextDueMs, type Watch } from '../../src/monitor/monitor.js';
import { PAGE_SIZE, type ProcStat } from '../../src/monitor/procfs.js';

// Pids above Linux's largest pid_max (2^22): no real process can ever answer for them.
const ROOT = 5_000_001;
const CHILD = 5_000_002;
const GRANDCHILD = 5_000_003;
const STRANGER = 5_000_009;

const p = (pid: number, ppid: number, cpuTicks: number, rssPages: number, startTime = pid): ProcStat => ({ pid, ppid, startTime, cpuTicks, rssPages });
const snapshot = (...stats: ProcStat[]): Map<number, ProcStat> => new Map(stats.map((s) => [s.pid, s]));

/** A Monitor whose /proc is a list of snapshots: each read returns the next one (the last one repeats). */
function scripted(snapshots: Map<number, ProcStat>[]) {
  let reads = 0;
  const readAll = (): Map<number, ProcStat> => snapshots[Math.min(reads++, snapshots.length - 1)]!;
  // Single-pid reads (watch baseline, final sample) see the latest sweep's snapshot without advancing the script.
  const current = (): Map<number, ProcStat> => snapshots[Math.min(Math.max(reads - 1, 0), snapshots.length - 1)]!;
  const monitor = new Monitor(5, { sweep: readAll, readStat: (pid) => current().get(pid), readPeakRss: () => 0 });
  const exceeded: [MonitorReason, Sample][] = [];
  const watch: Watch = { rootPid: ROOT, limits: { cpuMs: 100, memoryBytes: 200 * PAGE_SIZE }, onExceed: (reason, sample) => exceeded.push([reason, sample]) };
  /** Resolves once readAll has been called n times in total (each tick is synchronous, so that tick is done). */
  const untilReads = async (n: number): Promise<void> => {
    const deadline = Date.now() + 2000;
    while (reads < n) {
      if (Date.now() > deadline) throw new Error(`only ${reads} of ${n} reads`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };
  return { monitor, watch, exceeded, untilReads, reads: () => reads };
}

describe('monitor/monitor (injected /proc)', function () {
  this.timeout(5000);
  const monitors: { monitor: Monitor; watch: Watch }[] = [];
  afterEach(() => {
    for (const { monitor, watch } of monitors.splice(0)) monitor.unwatch(watch);
  });

  it('discover() learns the root\'s whole tree with start times, and nothing else', () => {
    const { monitor } = scripted([snapshot(p(ROOT, 1, 0, 0, 111), p(CHILD, ROOT, 0, 0, 222), p(GRANDCHILD, CHILD, 0, 0, 333), p(STRANGER, 1, 0, 0, 999))]);
    assert.deepEqual([...monitor.discover(ROOT)].sort(), [[ROOT, 111], [CHILD, 222], [GRANDCHILD, 333]]);
    assert.deepEqual([...monitor.discover(42)], []);
  });

  it('a new watch whose memory the kernel holds is not swept until its CPU could near cpuMs; without a cgroup it is swept at once', async () => {
    // cpuMs 100 on 1 core, interval 5 ms: the first sample is due 95 ms after the watch starts.
    let sweeps = 0;
    const counting = new Monitor(5, { sweep: () => (sweeps++, snapshot(p(ROOT, 1, 0, 0))), readStat: () => undefined, readPeakRss: () => 0 }, 1);
    const heldWatch: Watch = { rootPid: ROOT, limits: { cpuMs: 100, memoryBytes: PAGE_SIZE }, onExceed: () => undefined, memoryHeldByKernel: true };
    counting.watch(heldWatch, new Map());
    monitors.push({ monitor: counting, watch: heldWatch });
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(sweeps, 0, 'swept before the CPU could have crossed');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(sweeps >= 1, 'never swept');
    const plain = scripted([snapshot(p(ROOT, 1, 0, 0))]);
    monitors.push(plain);
    plain.monitor.watch(plain.watch, new Map());
    await plain.untilReads(1);
  });

  it('memory is the sum over the tree; a breach calls onExceed once, with the sample', async () => {
    const s = scripted([
      snapshot(p(ROOT, 1, 0, 100), p(CHILD, ROOT, 0, 50), p(STRANGER, 1, 0, 1_000_000)), // discover: 150 pages
      snapshot(p(ROOT, 1, 0, 100), p(CHILD, ROOT, 0, 60), p(STRANGER, 1, 0, 1_000_000)), // 160
      snapshot(p(ROOT, 1, 0, 100), p(CHILD, ROOT, 0, 60), p(GRANDCHILD, CHILD, 0, 41), p(STRANGER, 1, 0, 1_000_000)), // 201 > 200
      snapshot(p(ROOT, 1, 0, 100), p(CHILD, ROOT, 0, 60), p(GRANDCHILD, CHILD, 0, 500)), // still over, must not report again
    ]);
    monitors.push(s);
    const record = s.monitor.watch(s.watch);
    await s.untilReads(2);
    assert.deepEqual(s.exceeded, []);
    assert.deepEqual(record.last, { cpuMs: 0, memoryBytes: 160 * PAGE_SIZE });
    await s.untilReads(3);
    assert.deepEqual(s.exceeded, [['memory_limit', { cpuMs: 0, memoryBytes: 201 * PAGE_SIZE }]]);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(s.exceeded.length, 1);
    assert.equal(record.peakMemoryBytes, 201 * PAGE_SIZE);
  });

  it('CPU is counted from the watch\'s start: the interpreter\'s start-up is subtracted', async () => {
    // 10 ms per tick (USER_HZ 100). At the watch the tree had used 50 ms starting up; the limit is 100 ms of run.
    const s = scripted([
      snapshot(p(ROOT, 1, 2, 1), p(CHILD, ROOT, 3, 1)), // discover and baseline: 5 ticks = 50 ms
      snapshot(p(ROOT, 1, 2, 1), p(CHILD, ROOT, 10, 1)), // 12 ticks: 70 ms of run
      snapshot(p(ROOT, 1, 2, 1), p(CHILD, ROOT, 14, 1)), // 16 ticks: 110 ms of run > 100
    ]);
    monitors.push(s);
    const record = s.monitor.watch(s.watch);
    assert.equal(record.baselineCpuMs, 50);
    await s.untilReads(2);
    assert.deepEqual(s.exceeded, [], 'start-up CPU was counted as the run\'s');
    assert.deepEqual(record.last, { cpuMs: 70, memoryBytes: 2 * PAGE_SIZE });
    await s.untilReads(3);
    assert.deepEqual(s.exceeded, [['cpu_limit', { cpuMs: 110, memoryBytes: 2 * PAGE_SIZE }]]);
  });

  it('CPU over the limit is reported as cpu_limit (no start-up CPU)', async () => {
    const s = scripted([
      snapshot(p(ROOT, 1, 0, 1)),
      snapshot(p(ROOT, 1, 0, 1), p(CHILD, ROOT, 10, 1)), // 100 ms: at the limit, not over
      snapshot(p(ROOT, 1, 0, 1), p(CHILD, ROOT, 11, 1)), // 110 ms
    ]);
    monitors.push(s);
    s.monitor.watch(s.watch);
    await s.untilReads(2);
    assert.deepEqual(s.exceeded, []);
    await s.untilReads(3);
    assert.deepEqual(s.exceeded, [['cpu_limit', { cpuMs: 110, memoryBytes: 2 * PAGE_SIZE }]]);
  });

  it('a known pid now held by a process with another start time is not counted', async () => {
    const s = scripted([
      snapshot(p(ROOT, 1, 0, 10, 100), p(CHILD, ROOT, 0, 10, 200)),
      snapshot(p(ROOT, 1, 0, 10, 100), p(CHILD, ROOT, 0, 1000, 777)), // CHILD's pid, someone else's start time
    ]);
    monitors.push(s);
    const record = s.monitor.watch(s.watch);
    await s.untilReads(3);
    assert.deepEqual(s.exceeded, []);
    assert.deepEqual(record.last, { cpuMs: 0, memoryBytes: 10 * PAGE_SIZE });
  });

  it('a reused root pid: neither the stranger nor its children are counted', async () => {
    const s = scripted([
      snapshot(p(ROOT, 1, 0, 10, 100)),
      snapshot(p(ROOT, 1, 0, 10, 100), p(CHILD, ROOT, 0, 20, 200)), // 30 pages
      // The sandbox is gone; a stranger got ROOT's pid and has a big child.
      snapshot(p(ROOT, 1, 0, 10, 555), p(GRANDCHILD, ROOT, 900, 10_000, 556)),
    ]);
    monitors.push(s);
    const record = s.monitor.watch(s.watch);
    await s.untilReads(3);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(s.exceeded, []);
    assert.deepEqual(record.last, { cpuMs: 0, memoryBytes: 30 * PAGE_SIZE });
  });

  it('a tree that is gone keeps the last sample and peak', async () => {
    const s = scripted([
      snapshot(p(ROOT, 1, 0, 10)),
      snapshot(p(ROOT, 1, 3, 150)),
      snapshot(p(ROOT, 1, 4, 120)),
      snapshot(p(STRANGER, 1, 0, 5)),
    ]);
    monitors.push(s);
    const record = s.monitor.watch(s.watch);
    await s.untilReads(5);
    assert.deepEqual(s.exceeded, []);
    assert.deepEqual(record.last, { cpuMs: 40, memoryBytes: 120 * PAGE_SIZE });
    assert.equal(record.peakMemoryBytes, 150 * PAGE_SIZE);
    // The final sample of a gone tree is what was last seen.
    assert.deepEqual(s.monitor.finalSample(record), { cpuMs: 40, memoryBytes: 120 * PAGE_SIZE, peakMemoryBytes: 150 * PAGE_SIZE });
  });

  it('unwatch() stops the polling: no more reads, no report', async () => {
    const s = scripted([snapshot(p(ROOT, 1, 0, 10)), snapshot(p(ROOT, 1, 0, 10_000))]);
    s.monitor.watch(s.watch, new Map([[ROOT, ROOT]]));
    s.monitor.unwatch(s.watch);
    const before = s.reads();
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(s.reads(), before);
    assert.deepEqual(s.exceeded, []);
  });
});

describe('monitor/nextDueMs (a watch whose memory the kernel holds is sampled only as often as its CPU could cross cpuMs)', () => {
  const limits = { cpuMs: 10_000, memoryBytes: 1 };
  const rows: [string, number, number, boolean, number][] = [
    // what, cpuMs used so far, cores, memoryHeldByKernel, expected delay
    ['no cgroup: every interval, whatever the headroom', 0, 2, false, 50],
    ['10 s of CPU left on 2 cores: capped at MAX_DEFER_MS', 0, 2, true, 1000],
    ['1 s left on 2 cores: the crossing is 500 ms away, sample 50 ms before it', 9000, 2, true, 450],
    ['100 ms left on 2 cores: 50 ms away, so one interval', 9900, 2, true, 50],
    ['1 s left on 64 cores: 15.6 ms away, so one interval', 9000, 64, true, 50],
    ['over the limit already: one interval', 11_000, 2, true, 50],
  ];
  for (const [what, used, cores, kernel, expected] of rows) {
    it(what, () => assert.equal(nextDueMs({ cpuMs: used, memoryBytes: 0 }, limits, 50, cores, kernel), expected));
  }
  it('MAX_DEFER_MS is one second', () => assert.equal(MAX_DEFER_MS, 1000));
});
