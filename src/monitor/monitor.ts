import { cpus } from 'node:os';
import { exceeds, type MonitorReason, type Sample, type WatchLimits } from './exceeds.js';
import { PAGE_SIZE, StatFiles, TICKS_PER_SECOND, childrenOf, readPeakRss, sweep, treeByChildren, treeOf, type ProcStat } from './procfs.js';

/** Where the monitor reads processes from: /proc, or a test's script. */
export interface ProcSource {
  sweep(): Map<number, ProcStat>;
  readStat(pid: number): ProcStat | undefined;
  readPeakRss(pid: number): number;
  /** One sandbox's tree without a sweep of every process (the real /proc's children files). */
  tree?(rootPid: number): ProcStat[];
}

/** One watched sandbox: its root (the bwrap process the broker spawned) and what to do when it breaks a limit. */
export interface Watch {
  readonly rootPid: number;
  readonly limits: WatchLimits;
  readonly onExceed: (reason: MonitorReason, sample: Sample) => void;
  /** The kernel's record (a cgroup's OOM kill count) that the sandbox ran out of memory. */
  readonly oomKilled?: () => boolean;
  /** Bytes the sandbox holds outside its processes' RSS (tmpfs, memfds), given its known pids. */
  readonly hiddenMemory?: (pids: Iterable<number>) => number;
  /**
   * The kernel holds the sandbox's memory (a cgroup): the monitor then only has CPU to watch, and CPU
   * cannot grow faster than the cores there are, so a watch far from its cpuMs need not be sampled
   * every interval (see nextDue).
   */
  readonly memoryHeldByKernel?: boolean;
}

/** The longest a watch whose memory the kernel holds goes unsampled: its usage figures stay fresh. */
export const MAX_DEFER_MS = 1000;

/**
 * Pure: when a watch must next be sampled. A tree on `cores` cores uses at most `cores` ms of CPU per
 * ms of wall time, so with `headroomMs` of CPU left it cannot cross cpuMs for headroomMs / cores ms;
 * the next sample comes one interval before that (at least one interval from now, at most MAX_DEFER_MS).
 * Without the kernel holding memory, every interval.
 */
export function nextDueMs(sample: Sample, limits: WatchLimits, intervalMs: number, cores: number, memoryHeldByKernel: boolean): number {
  if (!memoryHeldByKernel) return intervalMs;
  const earliestCrossing = (limits.cpuMs - sample.cpuMs) / cores;
  return Math.min(MAX_DEFER_MS, Math.max(intervalMs, earliestCrossing - intervalMs));
}

/** What the monitor has seen of one watch so far. */
export interface WatchRecord {
  /** CPU of the tree when the watch began: the interpreter's start-up is not the run's. */
  baselineCpuMs: number;
  last: Sample;
  peakMemoryBytes: number;
  /** Processes seen in the tree, with start times, so a reused pid is never mistaken for ours. */
  known: Map<number, number>;
  /** performance.now() at which this watch is next sampled. */
  dueAt: number;
}

/**
 * Polls /proc on an interval for every watched sandbox's whole process tree and reports limit breaches.
 * One sweep of /proc serves all watches; the monitor only observes and reports, the worker kills.
 */
export class Monitor {
  private readonly watches = new Map<Watch, WatchRecord>();
  private timer: NodeJS.Timeout | undefined;
  private sweepCostMs = 0;
  private sweeps = 0;

  private readonly source: ProcSource;
  private readonly statFiles = new StatFiles();

  /**
   * The real /proc by default; tests pass synthetic ones. `cores` bounds how fast CPU time can grow:
   * every online CPU, not the broker's affinity, which a sandbox may widen with sched_setaffinity.
   */
  constructor(readonly intervalMs: number, source: Partial<ProcSource> = {}, private readonly cores = Math.max(1, cpus().length)) {
    // A test's scripted sweep stands for the whole /proc: its trees come from that sweep too.
    this.source = { sweep, readStat: (pid) => this.statFiles.read(pid), readPeakRss, ...(source.sweep ? {} : { tree: treeByChildren }), ...source };
  }

  /**
   * Learns a sandbox's processes while it is idle (one full sweep, off the request path), so that
   * starting and ending a watch only reads the few known pids.
   */
  discover(rootPid: number): Map<number, number> {
    return this.discoverTree(rootPid).known;
  }

  /**
   * As discover, and the tree's one leaf: at ready time that is the agent itself (bwrap → init → python),
   * the process a session's interrupt is sent to. Undefined when the tree is not a simple chain.
   */
  discoverTree(rootPid: number): { known: Map<number, number>; leaf: { pid: number; startTime: number } | undefined } {
    const tree = this.source.tree?.(rootPid) ?? treeOf(rootPid, this.source.sweep());
    const known = new Map<number, number>();
    for (const stat of tree) known.set(stat.pid, stat.startTime);
    const parents = new Set(tree.map((stat) => stat.ppid));
    const leaves = tree.filter((stat) => !parents.has(stat.pid));
    const leaf = leaves.length === 1 ? { pid: leaves[0]!.pid, startTime: leaves[0]!.startTime } : undefined;
    return { known, leaf };
  }

  /** Sends a signal to a process only if it is still the one seen (same start time): never to a reused pid. */
  signalIfSame(target: { pid: number; startTime: number }, signal: NodeJS.Signals): boolean {
    if (this.source.readStat(target.pid)?.startTime !== target.startTime) return false;
    try {
      process.kill(target.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** A sandbox ended: its processes' stat files are closed. */
  forget(pids: Iterable<number>): void {
    this.statFiles.forget(pids);
  }

  /** Starts watching; the baseline is the tree's CPU before the run (the interpreter's start-up is not the run's). */
  watch(watch: Watch, known: Map<number, number> = this.discover(watch.rootPid)): WatchRecord {
    // A run starts at 0 ms of CPU: where the kernel holds memory, its first sample is due only when that
    // CPU could have grown near cpuMs, so short runs never cost a sweep of /proc (measured: at ~250 session
    // runs/s every 50 ms tick swept /proc for the watches started since the last one).
    const fresh = { cpuMs: 0, memoryBytes: 0 };
    const firstDue = watch.memoryHeldByKernel ? performance.now() + nextDueMs(fresh, watch.limits, this.intervalMs, this.cores, true) : 0;
    const record: WatchRecord = { baselineCpuMs: 0, last: fresh, peakMemoryBytes: 0, known: new Map(known), dueAt: firstDue };
    record.baselineCpuMs = cpuMsOf(matching(record.known, this.source.readStat, (pid) => this.statFiles.forget([pid])));
    this.watches.set(watch, record);
    this.timer ??= setInterval(() => this.tick(), this.intervalMs).unref();
    return record;
  }

  unwatch(watch: Watch): void {
    this.watches.delete(watch);
    if (this.watches.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * The end-of-run sample, from the known pids only (cheap): CPU since the baseline and the sum of the
   * processes' own peaks (VmHWM), so a short run that allocated and freed memory still reports it.
   */
  finalSample(record: WatchRecord, lifetimePeaks = true): Sample & { peakMemoryBytes: number } {
    const tree = matching(record.known, this.source.readStat, (pid) => this.statFiles.forget([pid]));
    const cpuMs = tree.length > 0 ? Math.max(record.last.cpuMs, cpuMsOf(tree) - record.baselineCpuMs) : record.last.cpuMs;
    // A session's processes outlive the run: their VmHWM is the session's peak, so read the resident size now.
    const hwm = tree.reduce((sum, s) => sum + (lifetimePeaks ? this.source.readPeakRss(s.pid) : s.rssPages * PAGE_SIZE), 0);
    record.last = { cpuMs, memoryBytes: record.last.memoryBytes };
    record.peakMemoryBytes = Math.max(record.peakMemoryBytes, hwm);
    return { ...record.last, peakMemoryBytes: record.peakMemoryBytes };
  }

  stats(): { sweeps: number; meanSweepMs: number } {
    return { sweeps: this.sweeps, meanSweepMs: this.sweeps ? this.sweepCostMs / this.sweeps : 0 };
  }

  private tick(): void {
    const started = performance.now();
    // Half an interval of slack: a timer that fires a fraction early must not skip a whole interval.
    const due = [...this.watches].filter(([, record]) => record.dueAt <= started + this.intervalMs / 2);
    if (due.length === 0) return; // nothing can have crossed a limit yet: no sweep at all
    const all = this.source.sweep();
    const children = childrenOf(all);
    for (const [watch, record] of due) {
      const sample = this.update(watch, record, all, children);
      const reason = watch.oomKilled?.() ? 'memory_limit' : exceeds(sample, watch.limits);
      if (reason) {
        this.watches.delete(watch);
        watch.onExceed(reason, sample);
      } else {
        record.dueAt = started + nextDueMs(sample, watch.limits, this.intervalMs, this.cores, watch.memoryHeldByKernel === true);
      }
    }
    this.sweepCostMs += performance.now() - started;
    this.sweeps += 1;
  }

  private update(watch: Watch, record: WatchRecord, all: Map<number, ProcStat>, children: Map<number, ProcStat[]>): Sample {
    const root = all.get(watch.rootPid);
    const rootStart = record.known.get(watch.rootPid);
    if (!root || (rootStart !== undefined && root.startTime !== rootStart)) return record.last; // gone, or a stranger now
    const tree = treeOf(watch.rootPid, all, children).filter((stat) => {
      const seen = record.known.get(stat.pid);
      if (seen !== undefined && seen !== stat.startTime) return false; // pid reused by a stranger
      record.known.set(stat.pid, stat.startTime);
      return true;
    });
    if (tree.length === 0) return record.last; // already gone: keep what was seen
    const hidden = watch.hiddenMemory?.(tree.map((s) => s.pid)) ?? 0;
    const sample = { cpuMs: Math.max(0, cpuMsOf(tree) - record.baselineCpuMs), memoryBytes: hidden + tree.reduce((sum, s) => sum + s.rssPages * PAGE_SIZE, 0) };
    record.last = { cpuMs: Math.max(sample.cpuMs, record.last.cpuMs), memoryBytes: sample.memoryBytes };
    record.peakMemoryBytes = Math.max(record.peakMemoryBytes, sample.memoryBytes);
    return record.last;
  }
}

function cpuMsOf(tree: readonly ProcStat[]): number {
  return (tree.reduce((sum, s) => sum + s.cpuTicks, 0) * 1000) / TICKS_PER_SECOND;
}

/** Reads the known pids, dropping any that are gone or now belong to another process from the map. */
function matching(known: Map<number, number>, read: (pid: number) => ProcStat | undefined, drop: (pid: number) => void): ProcStat[] {
  const out: ProcStat[] = [];
  for (const [pid, startTime] of known) {
    const stat = read(pid);
    if (stat && stat.startTime === startTime) {
      out.push(stat);
      continue;
    }
    // Gone, or someone else's now: never ours again. Without this a reused sandbox's list grew by one
    // dead pid per run (process mode forks one per run), and every run read them all.
    known.delete(pid);
    drop(pid); // a stranger's stat file is not kept open
  }
  return out;
}
