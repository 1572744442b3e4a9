import { closeSync, mkdirSync, openSync, readSync, rmdirSync, writeFileSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Per-sandbox cgroups: limits on the sandbox as a whole, which per-process rlimits cannot give (they
 * multiply with fork() and do not see tmpfs, /dev/shm or memfd pages; a cgroup is charged for all of it).
 * cgroup v2 where it has the memory and pids controllers, else cgroup v1's memory and pids hierarchies.
 */
export type CgroupLayout =
  | { readonly kind: 'v2'; readonly parent: string }
  | { readonly kind: 'v1'; readonly memory: string; readonly pids: string };

export interface CgroupLimits {
  readonly memoryBytes: number;
  /** Tasks (processes and threads) in the sandbox, bubblewrap's own two included. */
  readonly tasks: number;
}

/** Pure: a run's limits as cgroup limits: two more tasks than maxProcesses, for bubblewrap outside the sandbox and its init inside. */
/** `overhead`: tasks of the sandbox that are not the run's (bubblewrap's two; a fork server is one more). */
export function toCgroupLimits(limits: { readonly memoryBytes: number; readonly maxProcesses: number }, overhead = 2): CgroupLimits {
  return { memoryBytes: limits.memoryBytes, tasks: limits.maxProcesses + overhead };
}

/** Pure: the directories of one sandbox's cgroup. */
export function cgroupDirs(layout: CgroupLayout, name: string): string[] {
  return layout.kind === 'v2' ? [join(layout.parent, name)] : [join(layout.memory, name), join(layout.pids, name)];
}

/**
 * Pure: the writes that set a sandbox's limits, in order. No swap, so the memory limit is the memory
 * the sandbox may hold. v1 refuses memsw below the memory limit, so memsw is lifted first, then both set.
 */
export function limitWrites(layout: CgroupLayout, name: string, limits: CgroupLimits): [file: string, value: string][] {
  const [memory, pids = memory] = cgroupDirs(layout, name) as [string, string?];
  if (layout.kind === 'v2') {
    return [
      [join(memory, 'memory.max'), String(limits.memoryBytes)],
      [join(memory, 'memory.swap.max'), '0'],
      [join(pids, 'pids.max'), String(limits.tasks)],
    ];
  }
  return [
    [join(memory, 'memory.memsw.limit_in_bytes'), '-1'],
    [join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes)],
    [join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)],
    [join(pids, 'pids.max'), String(limits.tasks)],
  ];
}

/** Pure: the out-of-memory kill count in memory.events (v2) or memory.oom_control (v1). */
export function parseOomKills(text: string): number {
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** One sandbox's cgroup: made before its processes join, removed once they are gone. */
export class SandboxCgroup {
  private readonly dirs: string[];
  /**
   * Kept open for the sandbox's life: one pread per run instead of open/read/close (measured: the
   * per-run cgroup reads cost a session ~15% of its throughput), and in v2 memory.peak resets per fd.
   */
  private readonly files: { oom: number; peak: number } | undefined;
  private oomBaseline = 0;
  /** The values read just before removal: a run's end is judged after its sandbox is gone. */
  private final: { oomKills: number; peak: number } | undefined;
  private current: CgroupLimits | undefined;
  private lastOomKills: number | undefined;
  private readonly buffer = Buffer.alloc(1024);

  constructor(private readonly layout: CgroupLayout, private readonly name: string) {
    this.dirs = cgroupDirs(layout, name);
    const made: string[] = [];
    let oom: number | undefined;
    try {
      for (const dir of this.dirs) {
        mkdirSync(dir);
        made.push(dir);
      }
      const dir = this.dirs[0]!;
      oom = openSync(join(dir, layout.kind === 'v2' ? 'memory.events' : 'memory.oom_control'), 'r');
      const peak = openSync(join(dir, layout.kind === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes'), 'r+');
      this.files = { oom, peak };
    } catch (error) {
      // Half made: remove what was made, so nothing is left for a later broker to sweep.
      if (oom !== undefined) closeSync(oom);
      for (const dir of made) rmdirSync(dir);
      throw error;
    }
  }

  /**
   * Moves processes in (all of the sandbox's, before any user code runs); a pid already gone is skipped.
   * Off the event loop: a migration waits for the kernel's cgroup lock, which sandboxes forking at the
   * same time hold (profiled: 23 ms of blocked event loop per sandbox start while 4 started at once).
   */
  async join(pids: Iterable<number>): Promise<void> {
    for (const pid of pids) {
      for (const dir of this.dirs) {
        try {
          await writeFile(join(dir, 'cgroup.procs'), String(pid));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
        }
      }
    }
  }

  /** Sets the limits, skipping the writes when they are already in force (a session's runs all share them). */
  limit(limits: CgroupLimits): void {
    if (this.current?.memoryBytes === limits.memoryBytes && this.current.tasks === limits.tasks) return;
    this.current = undefined;
    for (const [file, value] of limitWrites(this.layout, this.name, limits)) writeFileSync(file, value);
    this.current = { ...limits };
  }

  /** Out-of-memory kills in this cgroup since the last mark: the kernel's record, not the sandbox's. */
  oomKillsSinceMark(): number {
    this.lastOomKills = this.oomKills();
    return this.lastOomKills - this.oomBaseline;
  }

  /**
   * Starts a run: its OOM kills, and with `resetPeak` (a session) its peak, are counted from here. A
   * single-use sandbox ran nothing before, so its baseline needs no second read.
   */
  mark(resetPeak: boolean): void {
    // A session's background code may have been OOM-killed since its last run: read afresh there.
    this.oomBaseline = this.lastOomKills = resetPeak || this.lastOomKills === undefined ? this.oomKills() : this.lastOomKills;
    if (!resetPeak || !this.files || this.final) return;
    try {
      // v1 resets max_usage_in_bytes on any write; v2 (Linux 6.12+) resets memory.peak for this fd.
      writeSync(this.files.peak, '0', 0);
    } catch {
      // an older v2 kernel: the peak is the sandbox's lifetime peak
    }
  }

  /** The most memory the sandbox held since the mark: RSS, tmpfs, /dev/shm and memfd pages, as charged by the kernel. */
  peakBytes(): number {
    if (this.final) return this.final.peak;
    return Number(this.read('peak').trim()) || 0;
  }

  /** Removes the cgroup; false while processes are still in it (the caller tries again later). */
  dispose(): boolean {
    if (!this.final && this.files) {
      this.final = { oomKills: this.oomKills(), peak: this.peakBytes() };
      closeSync(this.files.oom);
      closeSync(this.files.peak);
    }
    let removed = true;
    for (const dir of this.dirs) {
      try {
        rmdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') removed = false;
      }
    }
    return removed;
  }

  private oomKills(): number {
    if (this.final) return this.final.oomKills;
    return parseOomKills(this.read('oom'));
  }

  private read(which: 'oom' | 'peak'): string {
    try {
      const length = readSync(this.files![which], this.buffer, 0, this.buffer.length, 0);
      return this.buffer.toString('latin1', 0, length);
    } catch {
      return '';
    }
  }
}
