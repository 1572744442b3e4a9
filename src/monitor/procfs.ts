import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';

/** One process as /proc/PID/stat shows it, in the units the monitor uses. */
export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** Start time in clock ticks since boot: with pid, it names a process even after pid reuse. */
  readonly startTime: number;
  /** utime + stime + cutime + cstime: CPU of the process and of the children it has waited for. */
  readonly cpuTicks: number;
  readonly rssPages: number;
}

/** Linux reports CPU in USER_HZ ticks; 100 on every mainstream architecture. */
export const TICKS_PER_SECOND = 100;
export const PAGE_SIZE = probePageSize();

/** Parses /proc/PID/stat. The command name may hold spaces and parentheses, so fields start after the last ')'. */
export function parseStat(pid: number, text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is state (field 3 of stat); field n of stat is fields[n - 3].
  const num = (n: number): number => Number(fields[n - 3]);
  const stat = { pid, ppid: num(4), startTime: num(22), cpuTicks: num(14) + num(15) + num(16) + num(17), rssPages: num(24) };
  return Number.isFinite(stat.ppid) && Number.isFinite(stat.cpuTicks) ? stat : undefined;
}

export function readStat(pid: number): ProcStat | undefined {
  const text = readSmall(`/proc/${pid}/stat`);
  return text === undefined ? undefined : parseStat(pid, text);
}

const scratch = Buffer.alloc(4096);

/**
 * Reads a small /proc file into one reused buffer: open + read + close, no fstat and no allocation.
 * Measured 3x faster than readFileSync (1.0 vs 3.4 ms for a sweep of 70 processes). undefined when the
 * process is gone between listing and reading, which is normal.
 */
function readSmall(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const length = readSync(fd, scratch, 0, scratch.length, 0);
    return scratch.toString('latin1', 0, length);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * /proc/PID/stat files kept open for the processes of live sandboxes, read with one pread each: a run
 * reads its sandbox's few processes at its start and end (measured: 0.15 ms of each session run went to
 * open/read/close of three stat files). An open stat file stays bound to its process: once that process
 * has exited the read fails, even if its pid was reused, and the file is closed.
 */
export class StatFiles {
  private readonly fds = new Map<number, number>();

  constructor(private readonly limit = 4096) {}

  read(pid: number): ProcStat | undefined {
    let fd = this.fds.get(pid);
    if (fd === undefined) {
      try {
        fd = openSync(`/proc/${pid}/stat`, 'r');
      } catch {
        return undefined;
      }
      if (this.fds.size >= this.limit) this.forget([...this.fds.keys()]); // a safety net, never reached in use
      this.fds.set(pid, fd);
    }
    try {
      const length = readSync(fd, scratch, 0, scratch.length, 0);
      return parseStat(pid, scratch.toString('latin1', 0, length));
    } catch {
      this.forget([pid]);
      return undefined;
    }
  }

  /** Closes the files of processes no longer watched (a sandbox that ended). */
  forget(pids: Iterable<number>): void {
    for (const pid of pids) {
      const fd = this.fds.get(pid);
      if (fd === undefined) continue;
      this.fds.delete(pid);
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
  }

  get size(): number {
    return this.fds.size;
  }
}

const HAS_CHILDREN_FILES = existsSync(`/proc/${process.pid}/task/${process.pid}/children`);

/** Every process on the host, read once; pids that vanish mid-sweep are simply absent. */
export function sweep(): Map<number, ProcStat> {
  const all = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) all.set(pid, stat);
  }
  return all;
}

/**
 * The process tree under root (root included), found through /proc/PID/task/TID/children instead of a
 * sweep of every process on the host: a few reads for a sandbox of a few processes, where a sweep reads
 * all of them (~4 ms of blocked event loop with 250 processes, at every sandbox's start). A pid seen
 * twice (a cycle through a reused pid) is not followed again.
 */
export function treeByChildren(root: number): ProcStat[] {
  if (!HAS_CHILDREN_FILES) return treeOf(root, sweep()); // a kernel without CONFIG_PROC_CHILDREN
  const out: ProcStat[] = [];
  const seen = new Set<number>();
  const pending = [root];
  while (pending.length > 0 && out.length < 100_000) {
    const pid = pending.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const stat = readStat(pid);
    if (!stat || (pid !== root && !seen.has(stat.ppid))) continue; // gone, or no longer a child of the tree
    out.push(stat);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      for (const child of (readSmall(`/proc/${pid}/task/${tid}/children`) ?? '').split(' ')) if (child) pending.push(Number(child));
    }
  }
  return out;
}

/** Parent pid → its children, from one sweep (built once per sweep, shared by every watch). */
export function childrenOf(all: ReadonlyMap<number, ProcStat>): Map<number, ProcStat[]> {
  const children = new Map<number, ProcStat[]>();
  for (const stat of all.values()) {
    const list = children.get(stat.ppid);
    if (list) list.push(stat);
    else children.set(stat.ppid, [stat]);
  }
  return children;
}

/** The process tree under root (root included), from one sweep. */
export function treeOf(root: number, all: ReadonlyMap<number, ProcStat>, children = childrenOf(all)): ProcStat[] {
  const rootStat = all.get(root);
  if (!rootStat) return [];
  const out: ProcStat[] = [];
  const seen = new Set<number>();
  const stack = [rootStat];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next.pid)) continue; // a pid reused mid-sweep can make a ppid cycle
    seen.add(next.pid);
    out.push(next);
    stack.push(...(children.get(next.pid) ?? []));
  }
  return out;
}

/** Peak resident set of one process (VmHWM), in bytes; 0 when it is gone. */
export function readPeakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readSmall(`/proc/${pid}/status`) ?? '');
  return match ? Number(match[1]) * 1024 : 0;
}

function probePageSize(): number {
  try {
    const rssPages = Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1]);
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1]);
    const ratio = (rssKb * 1024) / rssPages;
    for (const size of [4096, 16384, 65536]) if (Math.abs(ratio - size) / size < 0.25) return size;
  } catch {
    // not Linux: the sandbox would not start anyway
  }
  return 4096;
}
