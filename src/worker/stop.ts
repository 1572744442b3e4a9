import type { Readable, Writable } from 'node:stream';
import { treeByChildren } from '../monitor/procfs.js';
import type { Spawned } from './spawn.js';

/**
 * Ends a worker at once and for good.
 * - Every process under bubblewrap's outer process is SIGKILLed, the sandbox's init first (its death
 *   ends the whole pid namespace, daemons and setsid escapees included); bubblewrap then exits.
 *   Killing only bubblewrap is not enough: if it dies while starting, before its child has armed
 *   --die-with-parent, the sandbox would live on as an orphan.
 * - The broker's ends of fds 0 and 3 are closed, so an agent that still escaped reads EOF and exits.
 * Pids come from a walk of the broker's own child's tree (children files), so no stranger's reused pid is hit.
 * Weak isolation has no namespace: its whole process group is killed instead.
 */
export function killWorker(spawned: Spawned): void {
  const { child } = spawned;
  const stdio = child.stdio as unknown as [Writable, Readable, Readable, Writable, Readable];
  stdio[0].destroy();
  stdio[3].destroy();
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  if (spawned.groupKill) signal(-child.pid);
  const inside = treeByChildren(child.pid).filter((stat) => stat.pid !== child.pid);
  for (const stat of inside) signal(stat.pid);
  if (inside.length === 0) {
    child.kill('SIGKILL'); // still starting: nothing inside yet, so stop bubblewrap before it makes anything
    return;
  }
  // bubblewrap reaps its dead init and exits by itself (no zombie left to the host's init); make sure.
  setTimeout(() => child.kill('SIGKILL'), REAP_GRACE_MS).unref();
}

const REAP_GRACE_MS = 500;

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
