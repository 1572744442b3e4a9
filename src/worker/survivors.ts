import { readFileSync } from 'node:fs';
import { readStat } from '../monitor/procfs.js';

/**
 * Process mode, after the fork server reported a clean sandbox: the broker's own look, from the host's
 * /proc. The fork server is a child subreaper, so every process a run started is reparented to it: its
 * one child must be the next run's process it named (`next`, a pid inside the sandbox), and bubblewrap's
 * init must have no child but it. Undefined when that holds; otherwise what is wrong. Reads four small
 * files (tens of microseconds), no /proc sweep.
 */
export function sandboxSurvivors(serverPid: number, next: number, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): string | undefined {
  try {
    const children = childrenOf(serverPid, read);
    if (children.length !== 1 || namespacePid(children[0]!, read) !== next) return `processes survived the run: ${children.slice(0, 10).join(' ')} (expected only the next run's process)`;
    const init = statusField(serverPid, 'PPid', read);
    if (init === undefined) return 'the fork server is gone';
    const beside = childrenOf(init, read).filter((pid) => pid !== serverPid);
    if (beside.length > 0) return `processes beside the fork server: ${beside.slice(0, 10).join(' ')}`;
  } catch (error) {
    return `cannot look at the sandbox: ${(error as Error).message}`;
  }
  return undefined;
}

/**
 * Process mode, at ready: the fork server is bubblewrap's init's one child (the tree's leaf is not: the
 * server may already have forked the first run's process). Undefined when the tree is not that shape.
 */
export function forkServerOf(rootPid: number, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): { pid: number; startTime: number } | undefined {
  try {
    const [init, ...more] = childrenOf(rootPid, read);
    if (init === undefined || more.length > 0) return undefined;
    const [server, ...others] = childrenOf(init, read);
    const stat = server === undefined || others.length > 0 ? undefined : readStat(server);
    return stat ? { pid: stat.pid, startTime: stat.startTime } : undefined;
  } catch {
    return undefined;
  }
}

/** The innermost pid of a process (the last NSpid field): the pid it has inside its sandbox. */
function namespacePid(pid: number, read: (path: string) => string): number | undefined {
  return statusField(pid, 'NSpid', read);
}

/** The last number of a /proc/PID/status line ("PPid:\t12", "NSpid:\t4711\t3"). */
function statusField(pid: number, name: string, read: (path: string) => string): number | undefined {
  const line = read(`/proc/${pid}/status`).split('\n').find((l) => l.startsWith(`${name}:`));
  const last = line?.trim().split(/\s+/).at(-1);
  return last === undefined || !/^\d+$/.test(last) ? undefined : Number(last);
}

function childrenOf(pid: number, read: (path: string) => string): number[] {
  return read(`/proc/${pid}/task/${pid}/children`).split(' ').filter(Boolean).map(Number);
}
