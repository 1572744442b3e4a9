import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';
import type { BrokerClient, ExecuteParams, ExecuteResult, InitializeResult, StatusResult } from '../../src/client/index.js';

/**
 * Attack tests drive the REAL broker (`node <root>/dist/src/cli.js serve --stdio`) over real stdio.
 * PYCELL_CLI_ROOT points them at another built tree (a copy with a defence removed, to show that a
 * test fails without its defence); by default they use this checkout's dist/.
 */
export const CLI_ROOT = process.env.PYCELL_CLI_ROOT;

type ClientModule = typeof import('../../src/client/index.js');

export async function clientModule(): Promise<ClientModule> {
  if (CLI_ROOT) return (await import(pathToFileURL(join(CLI_ROOT, 'dist/src/client/index.js')).href)) as ClientModule;
  return import('../../src/client/index.js');
}

export function cliPath(): string {
  return CLI_ROOT ? join(CLI_ROOT, 'dist/src/cli.js') : fileURLToPath(new URL('../../src/cli.js', import.meta.url));
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly args?: readonly string[];
  /**
   * A host file the broker process inherits, open for reading at this fd number WITHOUT close-on-exec,
   * as a supervisor script or editor that leaks a descriptor into its children leaves it (node's own
   * stdio option, and node itself for fds below 10, mark such fds close-on-exec: a small exec wrapper
   * opens it). Pick an fd of 10 or more.
   * Otherwise spawnBroker itself is used.
   */
  readonly leakedFile?: { readonly fd: number; readonly path: string };
}

export interface SecurityBroker {
  readonly client: BrokerClient;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly init: InitializeResult;
  /** Everything the broker wrote on stderr (its logs) so far. */
  stderr(): string;
  execute(params: ExecuteParams, options?: Parameters<BrokerClient['execute']>[1]): Promise<ExecuteResult>;
  close(): Promise<void>;
}

export const DEFAULT_ARGS = ['--pool-size', '2', '--log-level', 'warn'];

export async function startBroker(options: StartOptions = {}): Promise<SecurityBroker> {
  const mod = await clientModule();
  const args = [...DEFAULT_ARGS, ...(options.args ?? [])];
  let client: BrokerClient;
  if (options.leakedFile) {
    const { fd, path } = options.leakedFile;
    assert.ok(Number.isInteger(fd) && fd > 2 && fd < 1000);
    // A tiny exec wrapper: opens the file inheritable at fd, then becomes the broker (same pid).
    const wrapper = 'import os, sys\nf = os.open(sys.argv[1], os.O_RDONLY)\nos.dup2(f, int(sys.argv[2]), inheritable=True)\nos.close(f)\nos.execv(sys.argv[3], sys.argv[3:])';
    const child = spawn('/usr/bin/python3', ['-I', '-c', wrapper, path, String(fd), process.execPath, cliPath(), 'serve', '--stdio', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    connection.listen();
    const failed = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`pycell serve exited with ${code} before initialize`))));
    const result = await Promise.race([connection.sendRequest<InitializeResult>('initialize', { clientInfo: { name: 'pycell-security-tests' } }), failed]);
    client = new mod.BrokerClient(connection, result, child);
  } else {
    client = await mod.spawnBroker({ env: options.env ?? process.env, args, stderr: 'pipe' });
  }
  const child = client.child!;
  const logs: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk));
  return {
    client,
    child,
    pid: child.pid!,
    init: client.initializeResult,
    stderr: () => Buffer.concat(logs).toString('utf8'),
    execute: (params, opts) => client.execute(params, opts),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = client.close();
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref());
      await Promise.race([closed, timeout]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Python prelude: emit(obj) prints one machine-readable line that probe() picks out of stdout. */
export const JSON_MARK = '@@PYCELL-JSON@@';
export const EMIT = `import json as _json_mod\ndef emit(obj):\n    print(${JSON.stringify(JSON_MARK)} + _json_mod.dumps(obj), flush=True)\n`;

/** Runs a snippet that calls emit(obj) once; asserts it ran to "ok" and returns obj. */
export async function probe<T = Record<string, unknown>>(broker: SecurityBroker, code: string, params: Omit<ExecuteParams, 'code'> = {}): Promise<{ data: T; result: ExecuteResult }> {
  const result = await broker.execute({ ...params, code: `${EMIT}${code}` });
  const line = result.stdout.split('\n').find((l) => l.startsWith(JSON_MARK));
  assert.ok(line, `the probe printed no result (status ${result.status}): ${JSON.stringify(result).slice(0, 2000)}`);
  assert.equal(result.status, 'ok', `probe status: ${JSON.stringify(result).slice(0, 2000)}`);
  return { data: JSON.parse(line.slice(JSON_MARK.length)) as T, result };
}

export function randomTag(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

// ---------------------------------------------------------------------------------------------
// The host's view of processes (the test runs outside the sandbox).

export interface HostProc {
  readonly pid: number;
  readonly ppid: number;
  readonly uid: number;
  /** Clock ticks since boot (field 22 of /proc/PID/stat). */
  readonly startTime: number;
  readonly comm: string;
  readonly cmdline: string;
}

function readHostProc(pid: number): HostProc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
    } catch {
      // zombie or gone
    }
    return { pid, ppid: Number(fields[1]), uid, startTime: Number(fields[19]), comm, cmdline };
  } catch {
    return undefined;
  }
}

export function scanHost(): Map<number, HostProc> {
  const all = new Map<number, HostProc>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const proc = readHostProc(Number(name));
    if (proc) all.set(proc.pid, proc);
  }
  return all;
}

/** Now, in the clock ticks of /proc/PID/stat's start time (USER_HZ = 100). */
export function bootTicks(): number {
  return Math.floor(Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * 100);
}

export function childrenOf(all: ReadonlyMap<number, HostProc>): Map<number, HostProc[]> {
  const children = new Map<number, HostProc[]>();
  for (const proc of all.values()) {
    const list = children.get(proc.ppid);
    if (list) list.push(proc);
    else children.set(proc.ppid, [proc]);
  }
  return children;
}

export function subtree(root: number, all: ReadonlyMap<number, HostProc>, children = childrenOf(all)): HostProc[] {
  const out: HostProc[] = [];
  const seen = new Set<number>();
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const proc = all.get(pid);
    if (proc) out.push(proc);
    for (const child of children.get(pid) ?? []) stack.push(child.pid);
  }
  return out;
}

function hasNodeAncestor(pid: number, all: ReadonlyMap<number, HostProc>): boolean {
  const seen = new Set<number>();
  for (let proc = all.get(pid); proc && !seen.has(proc.pid); proc = all.get(proc.ppid)) {
    seen.add(proc.pid);
    if (proc.comm === 'node' || proc.comm.startsWith('node')) return true;
  }
  return false;
}

/** An idle warm sandbox: bwrap (outer) → bwrap (init, pid 1) → the agent, nothing else. */
export function isIdleWarmSandbox(tree: readonly HostProc[]): boolean {
  if (tree.length !== 3) return false;
  const [outer, ...inside] = tree;
  return outer!.comm === 'bwrap' && inside.some((p) => p.comm === 'bwrap') && inside.some((p) => p.cmdline.includes('/pycell/agent/main.py'));
}

/**
 * Processes of the sandbox uid started since `sinceTicks` that are not an idle warm sandbox of this
 * broker: anything a finished run left behind (in the broker's tree, or escaped from it to the host's
 * init). Processes under some other node process (another test suite's brokers) are not ours to judge.
 */
export function leftovers(brokerPid: number, sinceTicks: number, uids: { first: number; count: number }): HostProc[] {
  const isSandboxUid = (uid: number): boolean => uid >= uids.first && uid < uids.first + uids.count;
  const all = scanHost();
  const children = childrenOf(all);
  const mine = new Set(subtree(brokerPid, all, children).map((p) => p.pid));
  const warm = new Set<number>();
  for (const sandbox of children.get(brokerPid) ?? []) {
    const tree = subtree(sandbox.pid, all, children);
    if (isIdleWarmSandbox(tree)) tree.forEach((p) => warm.add(p.pid));
  }
  return [...all.values()].filter(
    (p) => isSandboxUid(p.uid) && p.startTime >= sinceTicks && !warm.has(p.pid) && (mine.has(p.pid) || !hasNodeAncestor(p.pid, all)),
  );
}

/** Host processes whose command line or name contains the text. */
export function hostProcessesMentioning(text: string): HostProc[] {
  return [...scanHost().values()].filter((p) => p.pid !== process.pid && (p.cmdline.includes(text) || p.comm.includes(text)));
}

export { waitFor } from '../helpers/procs.js';

/** Polls broker/status until `check` holds; fails the test, showing the last status, after `timeoutMs`. */
export async function statusWhen(broker: SecurityBroker, check: (status: StatusResult) => boolean, timeoutMs: number): Promise<StatusResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await broker.client.status();
    if (check(status)) return status;
    assert.ok(Date.now() < deadline, `status never matched: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the broker has no run in flight and no sandbox starting (the pool refilled). */
export async function settled(broker: SecurityBroker, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await broker.client.status();
    if (status.workers.busy === 0 && status.workers.starting === 0 && status.queued === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** fd → readlink target of a host process ('' for an fd that went away). */
export function hostFds(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}
