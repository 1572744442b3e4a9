import { execa, type ResultPromise } from 'execa';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { LaunchSpec } from '../sandbox/launch.js';

/** The broker's ends of a worker's five descriptors (protocol/agent.md). */
export type WorkerProcess = ResultPromise<{ stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe']; buffer: false; reject: false }>;

/** The descriptors a worker gets: 0–4 always, 5 for bwrap's seccomp program, 6/7 for a fork server. */
function stdioOf(spec: LaunchSpec): ['pipe', 'pipe', 'pipe', ...('pipe' | 'ignore')[]] {
  const fds: ['pipe', 'pipe', 'pipe', ...('pipe' | 'ignore')[]] = ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'];
  if (spec.fd5 || spec.serverFds) fds.push(spec.fd5 ? 'pipe' : 'ignore');
  if (spec.serverFds) fds.push('pipe', 'pipe');
  return fds;
}

export interface Spawned {
  readonly child: WorkerProcess;
  /** Weak isolation has no pid namespace: the worker leads its own process group, killed as one. */
  readonly groupKill: boolean;
  /** Removes what the spawn made on the host (weak isolation's working directory). */
  readonly cleanup: () => void;
}

/**
 * Starts one worker from its launch spec: argv array, never a shell; an explicit environment (not the
 * broker's); only the fds of stdioOf; dropped to the sandbox user when the broker is root.
 */
export function spawnWorker(spec: LaunchSpec): Spawned {
  let workdir: string | undefined;
  let env = spec.env;
  if (spec.needsHostWorkdir) {
    workdir = mkdtempSync(join(tmpdir(), 'pycellweak-')); // not 'pycell-': those are runtime dirs with owners
    if (spec.user) chownSync(workdir, spec.user.uid, spec.user.gid);
    env = { ...env, HOME: workdir, TMPDIR: workdir };
  }
  const child = execa(spec.file, [...spec.args], {
    stdio: stdioOf(spec),
    env,
    extendEnv: false,
    buffer: false,
    reject: false,
    cwd: workdir,
    detached: spec.needsHostWorkdir,
    ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
  }) as unknown as WorkerProcess;
  if (spec.fd5) {
    const fd5 = (child.stdio as unknown as Writable[])[5]!;
    fd5.on('error', () => undefined);
    fd5.end(spec.fd5);
  }
  return { child, groupKill: spec.needsHostWorkdir, cleanup: () => workdir && rmSync(workdir, { recursive: true, force: true }) };
}
