import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { sweep, treeOf } from '../../src/monitor/procfs.js';
import { cmdline, waitFor } from './procs.js';
import type { ClientSession } from '../../src/client/index.js';
import type { ConfigInput } from '../../src/config.js';
import type { InitializeParams } from '../../src/protocol/lifecycle.js';
import type { Limits } from '../../src/protocol/limits.js';
import { startInProcess, type InProcess } from './inproc.js';

/** What a rejected request carried: the JSON-RPC error code, message and data. */
export interface WireError {
  readonly code: number;
  readonly message: string;
  readonly data: { field?: string; value?: unknown; reason?: string; [key: string]: unknown } | undefined;
}

/** Awaits a request that must fail and returns its error (fails the test if it succeeded). */
export async function rejection(request: Promise<unknown>): Promise<WireError> {
  try {
    const value = await request;
    assert.fail(`expected an error answer, got ${JSON.stringify(value).slice(0, 600)}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    const e = error as { code?: unknown; message?: unknown; data?: unknown };
    assert.equal(typeof e.code, 'number', `not a JSON-RPC error: ${String(error)}`);
    return { code: e.code as number, message: String(e.message), data: e.data as WireError['data'] };
  }
}

/**
 * The outer bubblewrap of every session sandbox of the in-process broker: a direct child of this
 * process (the broker runs in it) whose command line ends the agent's argv with "--mode session".
 */
export function sessionSandboxes(): Set<number> {
  const out = new Set<number>();
  for (const stat of sweep().values()) {
    if (stat.ppid === process.pid && cmdline(stat.pid).includes('--mode session')) out.add(stat.pid);
  }
  return out;
}

/** Runs `open` and returns what it returned plus the one session sandbox that appeared meanwhile. */
export async function withNewSandbox<T>(open: () => Promise<T>): Promise<{ value: T; bwrap: number }> {
  const before = sessionSandboxes();
  const value = await open();
  const fresh = [...sessionSandboxes()].filter((pid) => !before.has(pid));
  assert.equal(fresh.length, 1, `expected exactly one new session sandbox, found ${JSON.stringify(fresh)}`);
  return { value, bwrap: fresh[0]! };
}

/** Host view of one sandbox: the processes inside its pid namespace (all but the outer bwrap) and the agent's pid. */
export function insideOf(bwrap: number): { pids: number[]; agent: number } {
  const tree = treeOf(bwrap, sweep()).filter((stat) => stat.pid !== bwrap);
  const agent = tree.find((stat) => cmdline(stat.pid).includes('/pycell/agent/main.py') && !cmdline(stat.pid).includes('bwrap'));
  assert.ok(agent, `no agent process under bwrap ${bwrap}`);
  return { pids: tree.map((stat) => stat.pid), agent: agent.pid };
}

/** SIGKILLs a process from outside and waits until it is reaped (gone from /proc). */
export async function killAndReap(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  assert.ok(await waitFor(() => !existsSync(`/proc/${pid}`), 5000), `pid ${pid} still exists 5 s after SIGKILL`);
}

/** Traceback lines without CPython's caret/tilde marker lines, whose exact shape varies by version. */
export function withoutMarkers(lines: readonly string[]): string[] {
  return lines.filter((line) => !/^\s*[~^]+\s*$/.test(line));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Opens sessions for one test at a time: every session opened through the returned function is closed
 * after the test, so an operator's cap is free again for the next one.
 */
export function sessionOpener(broker: () => InProcess): (limits?: Partial<Limits>) => Promise<ClientSession> {
  const opened: ClientSession[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close().catch(() => undefined)));
  });
  return async (limits) => {
    const session = await broker().client.openSession(limits);
    opened.push(session);
    return session;
  };
}

/** One in-process broker and one open session for a describe block, handed to `use`; disposed after it. */
export function withBrokerAndSession(config: ConfigInput, use: (broker: InProcess, session: ClientSession) => void, initialize?: InitializeParams): void {
  let broker: InProcess | undefined;
  before(async () => {
    broker = await startInProcess(config, initialize);
    use(broker, await broker.client.openSession());
  });
  after(() => broker?.dispose());
}
