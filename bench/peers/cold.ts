/**
 * The naive alternatives: a cold interpreter per snippet (`python3 -c`), and a cold jail plus a cold
 * interpreter per snippet (`bwrap … python3 -I -S -c`), snekbox's model. Paced like pycell's
 * stateless requests, which they stand in for.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pacedSnippets, saturate } from '../measure.js';
import { check, seen, snippets, type Plan, type Snippet } from '../plan.js';
import type { PathName, PathResult } from '../results.js';

const run = promisify(execFile);

/** The real interpreter: `python3` on PATH may be a pyenv shim, a bash script costing ~85 ms a spawn. */
export const PYTHON = '/usr/bin/python3';

/** Mirrors snekbox: every namespace unshared, /usr read-only, fresh /proc, /dev and /tmp, no environment. */
export function coldBwrapArgv(code: string): string[] {
  return ['--unshare-all', '--die-with-parent', '--new-session', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64',
    '--symlink', 'usr/bin', '/bin', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--clearenv', PYTHON, '-I', '-S', '-c', code];
}

interface Cold {
  readonly name: PathName;
  readonly label: string;
  readonly file: string;
  readonly argv: (code: string) => string[];
}

const paths: readonly Cold[] = [
  { name: 'cold-python', label: 'cold `python3 -c` per snippet', file: PYTHON, argv: (code) => ['-c', code] },
  { name: 'cold-bwrap', label: 'cold `bwrap … python3 -I -S -c` per snippet (snekbox model)', file: 'bwrap', argv: coldBwrapArgv },
];

async function measureCold(plan: Plan, cold: Cold): Promise<PathResult> {
  // A cold interpreter reports no last value: sum(range(...)) prints nothing, as with the floor.
  const request = (snippet: Snippet) => async () => {
    const { stdout } = await run(cold.file, cold.argv(snippet.code), { maxBuffer: 8 * 1024 * 1024 });
    check(snippet, seen(stdout), cold.name);
  };
  const latency = await pacedSnippets(plan, 'cold', cold.name, request);
  const throughput = await saturate(() => request(snippets[0]!)(), plan.levels.filter((n) => n <= 8), plan.saturateSeconds);
  return { name: cold.name, label: cold.label, periodMs: plan.statelessPeriodMs, latency, throughput };
}

export const measureColdPython = (plan: Plan): Promise<PathResult> => measureCold(plan, paths[0]!);
export const measureColdBwrap = (plan: Plan): Promise<PathResult> => measureCold(plan, paths[1]!);
