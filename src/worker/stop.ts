import type { Spawned } from './spawn.js';

/**
 * Ends a worker at once. In a sandbox: SIGKILL to bubblewrap's outer process; --die-with-parent then kills
 * the sandbox's init, and with it every process in the pid namespace (daemons and setsid escapees included).
 * The broker's own child is the only pid it signals, so a reused pid is never hit. Weak isolation has no
 * namespace, so its whole process group is killed instead.
 */
export function killWorker(spawned: Spawned): void {
  const { child } = spawned;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  if (spawned.groupKill) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // group already gone
    }
  }
  child.kill('SIGKILL');
}
