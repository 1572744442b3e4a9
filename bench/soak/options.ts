/** What a soak is asked to do, and the one place its defaults are filled in. */

export interface SoakOptions {
  /** Executes to issue (default 10,000). */
  readonly runs?: number;
  /** Executes in flight at once (default 16). */
  readonly concurrency?: number;
  /** Seed of the pseudo-random mix (default DEFAULT_SEED). */
  readonly seed?: number;
  /** Sessions opened up front; session executes are spread over them (default 4). */
  readonly sessions?: number;
  /** Warm sandboxes (the broker's --pool-size, default 4). */
  readonly poolSize?: number;
  /** A request not answered this long after it was sent is "lost" (default 60 s). */
  readonly lostAfterMs?: number;
  /**
   * Host uids for this broker's sandboxes (--sandbox-uids). Default: a range of 4096 derived from this
   * process's pid, away from the default range, so that other brokers running on the same host (another
   * test suite) cannot be mistaken for leaks of this one.
   */
  readonly sandboxUids?: { readonly first: number; readonly count: number };
  /** More operator flags for `pycell serve`. */
  readonly extraBrokerArgs?: readonly string[];
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

export const DEFAULT_SEED = 20251123;
export const DEFAULT_RUNS = 10_000;
export const DEFAULT_CONCURRENCY = 16;

export interface SoakSettings {
  readonly runs: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly sessions: number;
  readonly poolSize: number;
  readonly lostAfterMs: number;
  readonly log: (line: string) => void;
  readonly sandboxUids: { readonly first: number; readonly count: number };
  /** The full `pycell serve` command line after `serve --stdio`. */
  readonly brokerArgs: string[];
  /** Put on the command line of every daemon the mix starts: names a survivor as this soak's own. */
  readonly daemonTag: string;
}

export function normalizeOptions(options: SoakOptions): SoakSettings {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const sessions = options.sessions ?? 4;
  const poolSize = options.poolSize ?? 4;
  const sandboxUids = options.sandboxUids ?? { first: 1_900_000_000 + (process.pid % 50_000) * 4096, count: 4096 };
  return {
    runs: options.runs ?? DEFAULT_RUNS,
    concurrency,
    seed: options.seed ?? DEFAULT_SEED,
    sessions,
    poolSize,
    lostAfterMs: options.lostAfterMs ?? 60_000,
    log: options.log ?? (() => undefined),
    sandboxUids,
    brokerArgs: [
      '--pool-size', String(poolSize),
      // Room for every in-flight request and every session, so that neither limit shows up as a finding.
      '--max-queue', String(Math.max(1000, concurrency * 4)),
      '--max-sessions', String(Math.max(8, sessions)),
      '--sandbox-uids', `${sandboxUids.first}:${sandboxUids.count}`,
      '--log-level', 'warn',
      ...(options.extraBrokerArgs ?? []),
    ],
    daemonTag: `pycell-soak-${process.pid}-daemon-`,
  };
}
