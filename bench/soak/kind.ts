/** What one kind of snippet in the mix is, and the small checks kinds are built from. */
import type { ExecuteParams, ExecuteResult, MimeBundle } from '../../src/client/index.js';
import { GUARD_OK } from '../../test/security/guard.js';

export type Status = ExecuteResult['status'];

export interface Request {
  readonly params: Omit<ExecuteParams, 'session'>;
  /** Cancel (AbortSignal) once this text appears on stdout, or this many ms after sending. */
  readonly cancel?: { readonly onOutput: string } | { readonly afterMs: number };
  /** Stream output/display notifications (onOutput/onDisplay) and check them against the result. */
  readonly stream?: boolean;
}

/** What arrived as notifications while the request ran. */
export interface Seen {
  readonly stdout: string;
  readonly stderr: string;
  readonly displays: MimeBundle[];
}

/** Returns what is wrong with a result whose status matched, or undefined. */
export type Check = (result: ExecuteResult, i: number, seen: Seen) => string | undefined;

export interface Kind {
  readonly name: string;
  readonly weight: number;
  readonly session: boolean;
  readonly expect: Status;
  /** The payload starts with GUARD: a "REFUSED" means it ran outside a sandbox, which is fatal. */
  readonly guarded?: boolean;
  /** i: this request's index (makes its output unique, so cross-talk between runs shows); r: a random in [0, 1). */
  make(i: number, r: number): Request;
  check?: Check;
}

export const all = (...checks: Check[]): Check =>
  (r, i, seen) => {
    for (const check of checks) {
      const problem = check(r, i, seen);
      if (problem) return problem;
    }
    return undefined;
  };

export const guardOk: Check = (r) => (r.stdout.startsWith(`${GUARD_OK}\n`) ? undefined : 'the GUARD line is missing');

/** Checks that streamed output (when streamed) is exactly the result's output. */
export function streamCheck(r: ExecuteResult, seen: Seen): string | undefined {
  if (seen.stdout !== r.stdout) return `streamed stdout (${seen.stdout.length} chars) differs from result.stdout (${r.stdout.length} chars)`;
  if (seen.stderr !== r.stderr) return `streamed stderr differs from result.stderr`;
  return undefined;
}

/** A session survives a limit that interrupts (sessionRestarted absent) and is restarted after a kill. */
export function restarted(expectRestart: boolean): Check {
  return (r) => {
    if (expectRestart && r.sessionRestarted !== true) return 'sessionRestarted is not true after a kill';
    if (!expectRestart && r.sessionRestarted !== undefined) return `unexpected sessionRestarted: ${String(r.sessionRestarted)} (${r.message ?? ''})`;
    return undefined;
  };
}
