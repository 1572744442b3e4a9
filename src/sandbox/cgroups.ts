import { closeSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, writeFileSync, writeSync } from 'node:fs';
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
export function toCgroupLimits(limits: { readonly memoryBytes: number; readonly maxProcesses: number }): CgroupLimits {
  return { memoryBytes: limits.memoryBytes, tasks: limits.maxProcesses + 2 };
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
    for (const dir of this.dirs) mkdirSync(dir);
    const dir = this.dirs[0]!;
    const oom = openSync(join(dir, layout.kind === 'v2' ? 'memory.events' : 'memory.oom_control'), 'r');
    let peak: number;
    try {
      peak = openSync(join(dir, layout.kind === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes'), 'r+');
    } catch (error) {
      closeSync(oom);
      throw error;
    }
    this.files = { oom, peak };
  }

  /** Moves processes in (all of the sandbox's, before any user code runs); a pid already gone is skipped. */
  join(pids: Iterable<number>): void {
    for (const pid of pids) {
      for (const dir of this.dirs) {
        try {
          writeFileSync(join(dir, 'cgroup.procs'), String(pid));
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
   * Starts a run: its OOM kills, and with `resetPeak` its peak, are counted from here. The baseline is the
   * count read at the end of the previous run (nothing runs between two runs), so a run costs one read.
   */
  mark(resetPeak: boolean): void {
    this.oomBaseline = this.lastOomKills ??= this.oomKills();
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

/** Pure: a cgroup's host directory from /proc/self/cgroup and /proc/self/mountinfo, per controller. */
export function locateCgroups(selfCgroup: string, mountinfo: string): { v2?: string; memory?: string; pids?: string } {
  const mounts = mountinfo.split('\n').map((line) => {
    const [left = '', right = ''] = line.split(' - ');
    const fields = left.split(' ');
    const [fstype = '', , options = ''] = right.split(' ');
    return { root: fields[3] ?? '/', point: fields[4] ?? '', fstype, options: options.split(',') };
  });
  const under = (mount: { root: string; point: string }, path: string): string | undefined => {
    if (mount.root !== '/' && path !== mount.root && !path.startsWith(`${mount.root}/`)) return undefined;
    const dir = join(mount.point, mount.root === '/' ? path : path.slice(mount.root.length));
    return dir.length > 1 ? dir.replace(/\/$/, '') : dir;
  };
  const out: { v2?: string; memory?: string; pids?: string } = {};
  for (const line of selfCgroup.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers = '', path = '/'] = match;
    if (id === '0' && controllers === '') {
      const mount = mounts.find((m) => m.fstype === 'cgroup2');
      if (mount) out.v2 = under(mount, path);
      continue;
    }
    for (const controller of ['memory', 'pids'] as const) {
      if (!controllers.split(',').includes(controller)) continue;
      const mount = mounts.find((m) => m.fstype === 'cgroup' && m.options.includes(controller));
      if (mount) out[controller] = under(mount, path);
    }
  }
  return out;
}

/** Which layout this host offers to this process, proven by making, limiting and removing a trial cgroup. */
export function probeCgroups(read = (path: string) => readFileSync(path, 'utf8')): { layout?: CgroupLayout; detail: string } {
  let found;
  try {
    found = locateCgroups(read('/proc/self/cgroup'), read('/proc/self/mountinfo'));
  } catch (error) {
    return { detail: `cannot read this process's cgroups: ${(error as Error).message}` };
  }
  const problems: string[] = [];
  const candidates: CgroupLayout[] = [];
  if (found.v2) {
    const controllers = (() => {
      try {
        return read(join(found.v2, 'cgroup.controllers')).trim().split(/\s+/);
      } catch {
        return [];
      }
    })();
    if (controllers.includes('memory') && controllers.includes('pids')) candidates.push({ kind: 'v2', parent: found.v2 });
    else problems.push(`cgroup v2 at ${found.v2} lacks the memory and pids controllers (has: ${controllers.join(' ') || 'none'})`);
  }
  if (found.memory && found.pids) candidates.push({ kind: 'v1', memory: found.memory, pids: found.pids });
  else if (!found.v2) problems.push('no cgroup v2 hierarchy and no cgroup v1 memory + pids hierarchies');
  for (const layout of candidates) {
    const problem = tryLayout(layout);
    if (!problem) return { layout, detail: describe(layout) };
    problems.push(problem);
  }
  return { detail: problems.join('; ') };
}

export function describe(layout: CgroupLayout): string {
  return layout.kind === 'v2'
    ? `cgroup v2 under ${layout.parent}: memory.max, memory.swap.max=0 and pids.max per sandbox`
    : `cgroup v1 under ${layout.memory} and ${layout.pids}: memory.limit_in_bytes, memory.memsw.limit_in_bytes (no swap) and pids.max per sandbox`;
}

function tryLayout(layout: CgroupLayout): string | undefined {
  if (layout.kind === 'v2') {
    try {
      // Children get controllers only from the parent's subtree_control.
      writeFileSync(join(layout.parent, 'cgroup.subtree_control'), '+memory +pids');
    } catch (error) {
      return `cgroup v2 at ${layout.parent}: cannot enable memory and pids for child cgroups (${(error as Error).message}); a delegated cgroup whose own processes live in a leaf is needed`;
    }
  }
  const name = `pycell-${process.pid}-probe`;
  let cgroup: SandboxCgroup | undefined;
  try {
    cgroup = new SandboxCgroup(layout, name);
    cgroup.limit({ memoryBytes: 64 * 1024 * 1024, tasks: 8 });
    return undefined;
  } catch (error) {
    return `${layout.kind === 'v2' ? 'cgroup v2' : 'cgroup v1'}: cannot make and limit a cgroup (${(error as Error).message})`;
  } finally {
    cgroup?.dispose();
  }
}

/** Cgroups of brokers that died without removing them (SIGKILL): empty ones are removed at start-up. */
export function removeStaleCgroups(layout: CgroupLayout, alive: (pid: number) => boolean): number {
  let removed = 0;
  const parents = layout.kind === 'v2' ? [layout.parent] : [layout.memory, layout.pids];
  for (const parent of parents) {
    let names: string[] = [];
    try {
      names = readdirSync(parent).filter((n) => /^pycell-\d+-/.test(n));
    } catch {
      continue;
    }
    for (const name of names) {
      if (alive(Number(name.split('-')[1]))) continue;
      try {
        rmdirSync(join(parent, name));
        removed++;
      } catch {
        // still holds processes, or not ours to remove
      }
    }
  }
  return removed;
}
