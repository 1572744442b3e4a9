/**
 * Ratios between paths measured in the same run (the only comparisons that mean something on a
 * noisy machine), and the targets checked against them.
 */
import { snippets, type SnippetName } from './plan.js';
import type { PathName, PathResult } from './results.js';

export interface Ratio {
  readonly label: string;
  readonly of: PathName;
  readonly to: PathName;
  /** of.median / to.median per snippet. */
  readonly median: Partial<Record<SnippetName, number>>;
  /** of.runsPerSecond / to.runsPerSecond (print(1+1), saturated). */
  readonly runsPerSecond?: number;
}

export interface Target {
  readonly target: string;
  readonly measured: string;
  readonly value?: number;
  /** undefined: not measured in this run (skipped or left out with --only). */
  readonly met?: boolean;
}

const pairs: readonly [string, PathName, PathName][] = [
  ['pycell / floor: session', 'session', 'floor'],
  ['pycell / floor: process', 'process', 'floor@25ms'],
  ['pycell / floor: sandbox', 'sandbox', 'floor@25ms'],
  ['peer / pycell: Jupyter / session', 'jupyter', 'session'],
  ['peer / pycell: cold python / process', 'cold-python', 'process'],
  ['peer / pycell: cold bwrap / process', 'cold-bwrap', 'process'],
  ['peer / pycell: cold bwrap / sandbox', 'cold-bwrap', 'sandbox'],
];

export function makeRatios(paths: readonly PathResult[]): Ratio[] {
  const byName = new Map(paths.filter((p) => p.latency).map((p) => [p.name, p]));
  return pairs.flatMap(([label, of, to]) => {
    const a = byName.get(of);
    const b = byName.get(to);
    if (!a?.latency || !b?.latency) return [];
    const median = Object.fromEntries(snippets.map((s) => [s.name, a.latency![s.name].median / b.latency![s.name].median]));
    // Throughput the other way round for peers: how many times pycell's runs/s a peer reaches.
    const runsPerSecond = a.throughput && b.throughput ? a.throughput.runsPerSecond / b.throughput.runsPerSecond : undefined;
    return [{ label, of, to, median, runsPerSecond }];
  });
}

const ms = (value: number): string => `${value.toFixed(2)} ms`;
const times = (value: number): string => `${value.toFixed(2)}x`;

export function makeTargets(paths: readonly PathResult[]): Target[] {
  const get = (name: PathName) => paths.find((p) => p.name === name && !p.skipped);
  const print = (name: PathName) => get(name)?.latency?.print.median;
  const rate = (name: PathName) => get(name)?.throughput?.runsPerSecond;
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined ? a / b : undefined);
  const check = (target: string, value: number | undefined, ok: (v: number) => boolean, show: (v: number) => string): Target =>
    value === undefined ? { target, measured: 'not measured' } : { target, measured: show(value), value, met: ok(value) };
  const agent = get('sandbox')?.memory?.idle?.find((g) => g.comm.startsWith('python'));
  return [
    check('session print(1+1) median <= 3.5x floor median', ratio(print('session'), print('floor')), (v) => v <= 3.5, times),
    check('session print(1+1) >= 15x faster than Jupyter (median)', ratio(print('jupyter'), print('session')), (v) => v >= 15, times),
    check('session >= 8,000 runs/s across two sessions (saturated)', rate('session'), (v) => v >= 8000, (v) => `${v.toFixed(0)} runs/s`),
    check('process print(1+1) median <= 2 ms (40 req/s)', print('process'), (v) => v <= 2, ms),
    check('process >= 1,000 runs/s (saturated)', rate('process'), (v) => v >= 1000, (v) => `${v.toFixed(0)} runs/s`),
    check('process runs/s >= 10x cold bwrap runs/s', ratio(rate('process'), rate('cold-bwrap')), (v) => v >= 10, times),
    check('cold bwrap median >= 10x process median', ratio(print('cold-bwrap'), print('process')), (v) => v >= 10, times),
    check('sandbox print(1+1) median <= 3 ms at 40 req/s', print('sandbox'), (v) => v <= 3, ms),
    check('sandbox >= 120 runs/s sustained', rate('sandbox'), (v) => v >= 120, (v) => `${v.toFixed(0)} runs/s`),
    agent
      ? { target: 'idle sandbox agent VmRSS <= 12 MB', measured: `${agent.maxRssMb.toFixed(1)} MB (max of ${agent.count}; Pss ${agent.pssMb.toFixed(1)} MB)`, value: agent.maxRssMb, met: agent.maxRssMb <= 12 }
      : { target: 'idle sandbox agent VmRSS <= 12 MB', measured: 'not measured' },
  ];
}

export const MONITOR_POINTER = 'monitor cost: measured by bench/monitor.ts (npm run bench:monitor), not here';
