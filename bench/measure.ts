/**
 * The two ways of loading a path. Low load: one request at a time, started on a fixed period with the
 * idle time in between left out of the timing (tinybench's beforeEach hook), so the numbers include
 * what an idle gap costs (waking a vCPU, a pool refilling) as real users' requests do. Saturated: N
 * requests kept in flight for a few seconds, for several N; the best runs/s is the path's peak.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Bench } from 'tinybench';
import { iterationsFor, periodFor, snippets, type PathKind, type Plan, type Snippet, type SnippetName } from './plan.js';

export interface LatencyStats {
  readonly median: number;
  readonly p99: number;
  readonly mean: number;
  readonly max: number;
  readonly n: number;
}

export interface Throughput {
  readonly runsPerSecond: number;
  readonly concurrency: number;
  readonly levels: readonly { readonly concurrency: number; readonly runsPerSecond: number }[];
}

/** One request; resolves with its own duration in ms when the path times itself (Jupyter's driver). */
export type Request = () => Promise<number | void>;

export async function paced(name: string, request: Request, iterations: number, warmup: number, periodMs: number): Promise<LatencyStats> {
  let nextAt = 0;
  const bench = new Bench({ iterations, time: 0, warmupIterations: warmup, warmupTime: 0, throws: true, retainSamples: false });
  bench.add(name, async () => {
    const ms = await request();
    return ms === undefined ? undefined : { overriddenDuration: ms };
  }, {
    beforeEach: async () => {
      const wait = nextAt - performance.now();
      if (wait > 0) await sleep(wait);
      nextAt = performance.now() + periodMs;
    },
  });
  await bench.run();
  const result = bench.tasks[0]!.result;
  if (result.state === 'errored') throw result.error;
  if (result.state !== 'completed') throw new Error(`${name}: tinybench task ${result.state}`);
  const { p50, p99, mean, max, samplesCount } = result.latency;
  return { median: p50, p99, mean, max, n: samplesCount };
}

/** Every snippet through one path at low load. */
export async function pacedSnippets(plan: Plan, kind: PathKind, name: string, run: (snippet: Snippet) => Request): Promise<Record<SnippetName, LatencyStats>> {
  const out: Partial<Record<SnippetName, LatencyStats>> = {};
  for (const snippet of snippets) {
    out[snippet.name] = await paced(`${name} ${snippet.name}`, run(snippet), iterationsFor(plan, kind, snippet), plan.warmup, periodFor(plan, kind));
  }
  return out as Record<SnippetName, LatencyStats>;
}

/** `concurrency` requests in flight for `seconds`; runs/s counts requests that finished inside the window. */
async function inFlight(request: (lane: number) => Promise<unknown>, concurrency: number, seconds: number): Promise<number> {
  const rampUntil = performance.now() + Math.min(300, seconds * 250);
  let start = 0;
  let until = Infinity;
  let done = 0;
  await Promise.all(Array.from({ length: concurrency }, async (_, lane) => {
    for (;;) {
      const now = performance.now();
      if (now >= until) return;
      if (start === 0 && now >= rampUntil) {
        start = now;
        until = now + seconds * 1000;
      }
      await request(lane);
      if (start !== 0 && performance.now() <= until) done++;
    }
  }));
  return done / seconds;
}

/**
 * Tries each level in turn and keeps the best; stops once a level falls well below the best so far,
 * and doubles the last level (twice at most) while the best is still the last one tried.
 */
export async function saturate(request: (lane: number) => Promise<unknown>, levels: readonly number[], seconds: number): Promise<Throughput> {
  const tried: { concurrency: number; runsPerSecond: number }[] = [];
  let best = { concurrency: 0, runsPerSecond: 0 };
  const queue = [...levels];
  let extra = 2;
  while (queue.length > 0) {
    const concurrency = queue.shift()!;
    const runsPerSecond = await inFlight(request, concurrency, seconds);
    tried.push({ concurrency, runsPerSecond });
    if (runsPerSecond > best.runsPerSecond) best = { concurrency, runsPerSecond };
    else if (runsPerSecond < 0.8 * best.runsPerSecond) break;
    if (queue.length === 0 && best.concurrency === concurrency && extra-- > 0) queue.push(concurrency * 2);
  }
  return { ...best, levels: tried };
}
