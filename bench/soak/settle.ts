/** Winding down after the last answer: wait for the pool to go quiet, and close the sessions. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientSession, StatusResult } from '../../src/client/index.js';
import type { SoakBroker } from './broker.js';

export const SETTLE_TIMEOUT_MS = 30_000;

/**
 * Polls broker/status until nothing is running, starting or queued. status: the last one seen, else
 * `last` (a broker that died, or stopped answering, leaves the previous picture in place).
 */
export async function settlePool(broker: SoakBroker, last: StatusResult | null): Promise<{ status: StatusResult | null; settled: boolean }> {
  const until = Date.now() + SETTLE_TIMEOUT_MS;
  let status = last;
  while (!broker.exited && Date.now() < until) {
    try {
      status = await broker.status();
    } catch {
      break;
    }
    if (status.workers.busy === 0 && status.workers.starting === 0 && status.queued === 0) return { status, settled: true };
    await sleep(100);
  }
  return { status, settled: false };
}

/** Returns a failure for each session/close that failed. */
export async function closeSessions(broker: SoakBroker, sessions: readonly ClientSession[]): Promise<string[]> {
  const failures: string[] = [];
  for (const session of sessions) {
    if (broker.exited) break;
    try {
      await broker.send(() => session.close());
    } catch (error) {
      failures.push(`session/close failed: ${(error as Error).message}`);
    }
  }
  return failures;
}
