/**
 * pycell itself, through `pycell serve` over real stdio and the client library: session executes, and
 * stateless executes in each isolation mode ("process": a fresh process per run, the operator's
 * --isolation process; "sandbox": a fresh bubblewrap sandbox per run, the default).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrokerClient, ExecuteResult } from '../src/client/index.js';
import { pacedSnippets, saturate, type Request } from './measure.js';
import { check, MB_BYTES, seen, snippets, type Plan, type Snippet } from './plan.js';
import { groupsUnder, memoryOf } from './procfs.js';
import { closeBroker, startBroker } from './broker.js';
import type { PathResult } from './results.js';

/** Room for the 1 MB snippet whatever the default output limit is. */
const limits = { maxOutputBytes: 4 * MB_BYTES };
const MiB = 1024 * 1024;

/** Checks one answer, and keeps the largest sandbox memory pycell reported. */
class Runs {
  workerPeakBytes = 0;

  verify(snippet: Snippet, result: ExecuteResult, where: string): void {
    if (result.status !== 'ok' || result.stdoutTruncated) throw new Error(`${where}: ${snippet.label} ${result.status}${result.stdoutTruncated ? ' (stdout truncated)' : ''}: ${result.message ?? result.error?.message ?? ''}`);
    check(snippet, seen(result.stdout, result.value?.['text/plain']), where);
    this.workerPeakBytes = Math.max(this.workerPeakBytes, result.usage.peakMemoryBytes);
  }
}

/** The broker's peak, its worker's, and its process tree once idle (the pool refilled). */
async function memory(broker: BrokerClient, runs: Runs): Promise<NonNullable<PathResult['memory']>> {
  await sleep(1000);
  const pid = broker.child!.pid!;
  return { serverPeakMb: memoryOf(pid)?.hwmMb, workerPeakMb: runs.workerPeakBytes / MiB, idle: groupsUnder(pid) };
}

export async function measureSession(plan: Plan): Promise<PathResult> {
  const broker = await startBroker([]);
  try {
    const runs = new Runs();
    const sessions = [await broker.openSession(limits), await broker.openSession(limits)] as const;
    const request = (lane: number, snippet: Snippet): Request => async () => runs.verify(snippet, await sessions[lane % 2]!.execute(snippet.code), 'session');
    const latency = await pacedSnippets(plan, 'fast', 'session', (snippet) => request(0, snippet));
    const idle = await memory(broker, runs);
    // Two sessions, several executes queued on each so neither waits on a round trip.
    const throughput = await saturate((lane) => request(lane, snippets[0]!)(), plan.levels.map((n) => 2 * n), plan.saturateSeconds);
    return { name: 'session', label: 'pycell session execute', periodMs: plan.fastPeriodMs, latency, throughput, memory: { ...idle, serverPeakMb: memoryOf(broker.child!.pid!)?.hwmMb, workerPeakMb: runs.workerPeakBytes / MiB }, notes: ['runs/s across 2 sessions'] };
  } finally {
    await closeBroker(broker);
  }
}

export type Isolation = 'process' | 'sandbox';

export async function measureStateless(plan: Plan, isolation: Isolation): Promise<PathResult> {
  // Only the operator can lower isolation to "process"; "sandbox" is the broker's default.
  const broker = await startBroker(isolation === 'process' ? ['--isolation', 'process'] : []);
  try {
    const runs = new Runs();
    const request = (snippet: Snippet): Request => async () => runs.verify(snippet, await broker.execute({ code: snippet.code, ...(snippet.name === 'print1MB' ? { limits } : {}) }), isolation);
    for (let i = 0; i < 10; i++) await request(snippets[0]!)();
    const latency = await pacedSnippets(plan, 'paced', isolation, request);
    const idle = await memory(broker, runs);
    const throughput = await saturate(() => request(snippets[0]!)(), plan.levels, plan.saturateSeconds);
    const label = isolation === 'process' ? 'pycell stateless, isolation "process" (fresh process per run)' : 'pycell stateless, isolation "sandbox" (fresh sandbox per run)';
    return { name: isolation, label, periodMs: plan.statelessPeriodMs, latency, throughput, memory: { ...idle, serverPeakMb: memoryOf(broker.child!.pid!)?.hwmMb, workerPeakMb: runs.workerPeakBytes / MiB } };
  } finally {
    await closeBroker(broker);
  }
}
