/**
 * What one path of the bench reports: a row of the table and of the JSON file. Every scenario
 * returns rows; one that cannot run returns a row with only `skipped`, so the rest still runs.
 */
import type { LatencyStats, Throughput } from './measure.js';
import type { ProcGroup } from './procfs.js';
import type { SnippetName } from './plan.js';

export type PathName =
  | 'floor' | 'floor@25ms' | 'jupyter' | 'cold-python' | 'cold-bwrap'
  | 'session' | 'process' | 'sandbox';

export interface PathResult {
  readonly name: PathName;
  readonly label: string;
  /** Start-to-start period of the low-load loop, in ms. */
  readonly periodMs?: number;
  readonly latency?: Record<SnippetName, LatencyStats>;
  /** print(1+1) with several requests in flight. */
  readonly throughput?: Throughput;
  readonly memory?: {
    /** VmHWM of the broker (or of the peer's server process) at the end of the path. */
    readonly serverPeakMb?: number;
    /** The most any one run's sandbox used, as pycell itself reports it (usage.peakMemoryBytes). */
    readonly workerPeakMb?: number;
    /** The process tree under the broker while idle, by command name. */
    readonly idle?: readonly ProcGroup[];
  };
  readonly notes?: readonly string[];
  readonly skipped?: string;
}

export function skippedRow(name: PathName, label: string, error: unknown): PathResult {
  const line = (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
  // The first sentence is enough for a table cell ("pycell: Unknown option '--isolation'.").
  const sentence = line.match(/^.{20,}?[.!?](?=\s)/)?.[0] ?? line;
  return { name, label, skipped: sentence.slice(0, 200) };
}
