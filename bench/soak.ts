/**
 * Soak test of `pycell serve`: ONE broker (real stdio, the client library), N executes with C in flight,
 * drawn pseudo-randomly (from a printed seed) from good and hostile snippets, stateless and in sessions,
 * some cancelled mid-run. For every request: was it answered exactly once (the promise settled, and on
 * the wire exactly one response carried its id), and did its status match what that snippet must
 * produce. At the end: the pool settles, the broker closes cleanly, and nothing may be left on the host
 * (sandbox-uid processes, the runtime dir, temp dirs, cgroups).
 *
 *   npm run soak -- [--runs N] [--concurrency C] [--seed S] [--json FILE]
 *                   [--sessions K] [--pool-size P] [--lost-after-ms MS]
 *
 * Exit code 0 only when: no request was lost, every request was answered exactly once (no duplicate or
 * unknown response id on the wire), no process, temp dir or cgroup leaked, no sandbox process was left
 * over once the pool settled, the broker exited 0 when closed, and no status mismatch is FATAL. A status
 * mismatch is fatal when the run was reported "ok" where a limit, kill, crash or cancel was expected (a
 * limit that did not hold, or a result that lies), or when a guarded payload's GUARD refused to run (it
 * was not inside a sandbox). Every other mismatch (another non-ok status than expected, a failed content
 * check, an error response) is printed as a finding but does not fail the soak.
 *
 * test/soak.test.ts runs the same soak() with 500 runs in CI.
 */
import { readFileSync, readdirSync, realpathSync, statSync, writeFileSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBroker, type BrokerClient, type ClientSession, type ExecuteParams, type ExecuteResult, type MimeBundle, type StatusResult } from '../src/client/index.js';
import { GUARD, GUARD_OK } from '../test/security/guard.js';
import { childrenOf, isIdleWarmSandbox, scanHost, subtree, type HostProc } from '../test/security/harness.js';
import { runtimeDirOf } from '../test/helpers/procs.js';

// ---------------------------------------------------------------------------------------------
// Options and summary

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

export interface KindStats {
  kind: string;
  session: boolean;
  expect: string;
  count: number;
  statuses: Record<string, number>;
  mismatches: number;
  fatal: number;
  /** One example of a mismatch: what was wrong and an excerpt of the result. */
  example?: string;
  latencyMs: { p50: number; p99: number; max: number };
}

export interface SoakSummary {
  seed: number;
  runs: number;
  concurrency: number;
  sessions: number;
  poolSize: number;
  brokerArgs: string[];
  sandboxUids: { first: number; count: number };
  /** Findings that do not fail the soak (the broker's own counters disagreeing with what the client saw, …). */
  notes: string[];
  requests: number;
  /** Executes whose promise settled (resolved or rejected) — once, by construction. */
  settled: number;
  /** Executes that settled, and whose id got exactly one response on the wire. */
  answeredOnce: number;
  lost: number;
  /** Lost requests answered after their deadline (at shutdown at the latest). */
  lateAnswers: number;
  /** Executes answered with a JSON-RPC error, by code and message. */
  rejected: Record<string, number>;
  byStatus: Record<string, number>;
  mismatches: { total: number; fatal: number; byKind: { kind: string; count: number; fatal: number; example: string }[] };
  guardRefused: number;
  wire: { responses: number; expectedResponses: number; duplicateIds: number; unknownIds: number; examples: string[] };
  strayAtSettle: { count: number; examples: string[] };
  leakedProcesses: { count: number; examples: string[] };
  leakedTempDirs: { count: number; paths: string[]; foreignIgnored: string[] };
  leakedCgroups: { count: number; paths: string[] };
  runtimeDir: string | null;
  rssMiB: { start: number; afterWarmup: number | null; byTenth: number[]; peak: number; end: number };
  settledPool: boolean;
  wallMs: number;
  soakMs: number;
  runsPerSecond: number;
  brokerExitCode: number | null;
  brokerDiedEarly: boolean;
  finalStatus: StatusResult | null;
  kinds: KindStats[];
  failures: string[];
  pass: boolean;
}

// ---------------------------------------------------------------------------------------------
// The mix

type Status = ExecuteResult['status'];

interface Request {
  readonly params: Omit<ExecuteParams, 'session'>;
  /** Cancel (AbortSignal) once this text appears on stdout, or this many ms after sending. */
  readonly cancel?: { readonly onOutput: string } | { readonly afterMs: number };
  /** Stream output/display notifications (onOutput/onDisplay) and check them against the result. */
  readonly stream?: boolean;
}

interface Seen {
  readonly stdout: string;
  readonly stderr: string;
  readonly displays: MimeBundle[];
}

interface Kind {
  readonly name: string;
  readonly weight: number;
  readonly session: boolean;
  readonly expect: Status;
  readonly guarded?: boolean;
  /** i: this request's index (makes its output unique, so cross-talk between runs shows); r: a random in [0, 1). */
  make(i: number, r: number): Request;
  /** Returns what is wrong with a result whose status matched, or undefined. */
  check?(result: ExecuteResult, i: number, seen: Seen): string | undefined;
}

const MiB = 2 ** 20;
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const sumSquares = (n: number): number => ((n - 1) * n * (2 * n - 1)) / 6;

/** Fake JSON-RPC frames (aimed at ids near this run's own) and fake agent control lines, on stdout. */
function framesCode(i: number): { code: string; stdout: string } {
  const frames = [
    { jsonrpc: '2.0', id: i + 1, result: { status: 'ok', stdout: 'FORGED\n', stderr: '' } },
    { jsonrpc: '2.0', id: i + 2, error: { code: -32603, message: 'forged' } },
    { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: i + 3 } },
  ].map((f) => JSON.stringify(f));
  const wire = frames.map((body) => `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`).join('');
  const control = `${JSON.stringify({ type: 'result', id: 1, status: 'ok', value: { 'text/plain': "'FORGED'" } })}\n`;
  const stdout = `${wire}\n${control}`;
  return { code: `import sys\nsys.stdout.write(${JSON.stringify(stdout)})\nsys.stdout.flush()`, stdout };
}

const SLEEP_FOREVER = 'import time\ntime.sleep(3600)';
const CPU_SPIN = 'while True: pass';
const MEMORY_HOG = 'x = []\nwhile True:\n    x.append(b"a" * 2**20)';
const FLOOD = 'while True: print("x" * 99)';
const CLOSE_CONTROL_FDS = 'import os\nos.close(3)\nos.close(4)';

const guardOk = (r: ExecuteResult): string | undefined => (r.stdout.startsWith(`${GUARD_OK}\n`) ? undefined : 'the GUARD line is missing');

/** Checks that streamed output (when streamed) is exactly the result's output. */
function streamCheck(r: ExecuteResult, seen: Seen): string | undefined {
  if (seen.stdout !== r.stdout) return `streamed stdout (${seen.stdout.length} chars) differs from result.stdout (${r.stdout.length} chars)`;
  if (seen.stderr !== r.stderr) return `streamed stderr differs from result.stderr`;
  return undefined;
}

function restarted(expectRestart: boolean) {
  return (r: ExecuteResult): string | undefined => {
    if (expectRestart && r.sessionRestarted !== true) return 'sessionRestarted is not true after a kill';
    if (!expectRestart && r.sessionRestarted !== undefined) return `unexpected sessionRestarted: ${String(r.sessionRestarted)} (${r.message ?? ''})`;
    return undefined;
  };
}

const all = (...checks: ((r: ExecuteResult, i: number, seen: Seen) => string | undefined)[]) =>
  (r: ExecuteResult, i: number, seen: Seen): string | undefined => {
    for (const check of checks) {
      const problem = check(r, i, seen);
      if (problem) return problem;
    }
    return undefined;
  };

/** Good snippets, the same stateless and in a session. */
function goodKinds(session: boolean, w: (stateless: number, inSession: number) => number): Kind[] {
  const p = session ? 's-' : '';
  const noRestart = session ? restarted(false) : () => undefined;
  return [
    {
      name: `${p}print`, weight: w(5, 14), session, expect: 'ok',
      make: (i) => ({ params: { code: `print(${i} + 1)` } }),
      check: all((r, i) => (r.stdout === `${i + 1}\n` ? undefined : `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`), noRestart),
    },
    {
      name: `${p}compute`, weight: w(3, 10), session, expect: 'ok',
      make: (i) => ({ params: { code: `n = ${1000 + (i % 1000)}\nsum(k * k for k in range(n))` } }),
      check: all((r, i) => (r.value?.['text/plain'] === String(sumSquares(1000 + (i % 1000))) ? undefined : `value ${JSON.stringify(r.value)}`), noRestart),
    },
    {
      name: `${p}stdin`, weight: w(2, 6), session, expect: 'ok',
      make: (i) => ({ params: { code: 'import sys\nprint(sys.stdin.read().upper())', stdin: `soak ${i}` } }),
      check: all((r, i) => (r.stdout === `SOAK ${i}\n` ? undefined : `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`), noRestart),
    },
    {
      name: `${p}files`, weight: w(2, 3), session, expect: 'ok',
      make: (i) => ({
        params: {
          code: `with open("out-${i}.txt", "w") as f:\n    f.write("x" * ${i % 500 + 1})\nwith open("data/in-${i}.txt") as f:\n    s = f.read()\nprint(len(open("out-${i}.txt").read()), s)`,
          files: [{ path: `data/in-${i}.txt`, content: b64(`payload-${i}`) }],
          returnFiles: [`out-${i}.txt`],
        },
      }),
      check: all((r, i) => {
        if (r.stdout !== `${i % 500 + 1} payload-${i}\n`) return `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`;
        const file = r.files?.find((f) => f.path === `out-${i}.txt`);
        if (!file || !('content' in file) || Buffer.from(file.content, 'base64').toString() !== 'x'.repeat(i % 500 + 1)) return `returned files ${JSON.stringify(r.files)?.slice(0, 200)}`;
        return undefined;
      }, noRestart),
    },
    {
      name: `${p}exception`, weight: w(2, 6), session, expect: 'error',
      make: (i) => ({ params: { code: `def f(x):\n    raise ValueError("boom %d" % x)\nf(${i})` } }),
      check: all((r, i) => (r.error?.type === 'ValueError' && r.error.message === `boom ${i}` ? undefined : `error ${JSON.stringify(r.error)?.slice(0, 200)}`), noRestart),
    },
    {
      name: `${p}display`, weight: w(2, 6), session, expect: 'ok',
      make: (i) => ({ params: { code: `print("before", flush=True)\ndisplay({"soak": ${i}})\n${i} * 2` }, stream: true }),
      check: all((r, i, seen) => {
        if (r.value?.['text/plain'] !== String(i * 2)) return `value ${JSON.stringify(r.value)}`;
        if (seen.displays.length !== 1 || seen.displays[0]!['text/plain'] !== `{'soak': ${i}}`) return `displays ${JSON.stringify(seen.displays).slice(0, 200)}`;
        return streamCheck(r, seen);
      }, noRestart),
    },
    {
      name: `${p}fake-frames`, weight: w(1.5, 3), session, expect: 'ok',
      make: (i) => ({ params: { code: framesCode(i).code } }),
      check: all((r, i) => (r.stdout === framesCode(i).stdout ? undefined : `stdout altered: ${JSON.stringify(r.stdout.slice(0, 120))}`), noRestart),
    },
  ];
}

/** daemonTag: what the daemon puts on its command line (this soak's own, so a survivor can be named). */
function buildKinds(daemonTag: string): Kind[] {
  const kinds: Kind[] = [
    ...goodKinds(false, (s) => s),
    // Hostile, stateless (each in its own fresh sandbox).
    {
      name: 'cpu-spin', weight: 2, session: false, expect: 'cpu_limit',
      make: () => ({ params: { code: CPU_SPIN, limits: { cpuMs: 200, timeoutMs: 10_000 } } }),
    },
    {
      name: 'sleep-forever', weight: 2, session: false, expect: 'timeout',
      make: () => ({ params: { code: SLEEP_FOREVER, limits: { timeoutMs: 300 } } }),
    },
    {
      name: 'memory-hog', weight: 2, session: false, expect: 'memory_limit',
      make: () => ({ params: { code: MEMORY_HOG, limits: { memoryBytes: 64 * MiB, timeoutMs: 10_000 } } }),
    },
    {
      name: 'output-flood', weight: 2, session: false, expect: 'output_limit',
      make: () => ({ params: { code: FLOOD, limits: { maxOutputBytes: 10 * 1024 } }, stream: true }),
      check: (r, _i, seen) => (Buffer.byteLength(r.stdout) > 10 * 1024 || !r.stdoutTruncated ? `stdout ${Buffer.byteLength(r.stdout)} bytes, truncated ${r.stdoutTruncated}` : streamCheck(r, seen)),
    },
    {
      name: 'fork-bomb', weight: 1.5, session: false, expect: 'ok', guarded: true,
      make: () => ({
        params: {
          code: `${GUARD}\nimport os, time\nforked, failure = 0, None\nfor _ in range(64):\n    try:\n        pid = os.fork()\n    except OSError as e:\n        failure = e.errno\n        break\n    if pid == 0:\n        time.sleep(5)\n        os._exit(0)\n    forked += 1\nprint("FORKED", forked, "ERRNO", failure)`,
          limits: { maxProcesses: 8, timeoutMs: 10_000 },
        },
      }),
      check: all(guardOk, (r) => {
        const m = /FORKED (\d+) ERRNO (\S+)/.exec(r.stdout);
        return m && Number(m[1]) <= 8 && m[2] === '11' ? undefined : `fork bomb not held by maxProcesses 8: ${JSON.stringify(r.stdout.slice(-80))}`;
      }),
    },
    {
      name: 'exit-137', weight: 1.5, session: false, expect: 'crashed',
      make: () => ({ params: { code: 'import os\nos._exit(137)' } }),
      check: (r) => (r.exitCode === 137 ? undefined : `exitCode ${r.exitCode}`),
    },
    {
      name: 'self-sigkill', weight: 1.5, session: false, expect: 'crashed',
      make: () => ({ params: { code: 'import os\nos.kill(os.getpid(), 9)' } }),
    },
    {
      name: 'daemon', weight: 1.5, session: false, expect: 'ok', guarded: true,
      make: (i) => ({
        params: {
          code: `${GUARD}\nimport os, sys\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execv(sys.executable, [sys.executable, "-I", "-c", "import time; time.sleep(3600)", "${daemonTag}${i}"])\n    os._exit(0)\nos.waitpid(pid, 0)\nprint("PARENT-DONE")`,
        },
      }),
      check: all(guardOk, (r) => (r.stdout.endsWith('PARENT-DONE\n') ? undefined : `stdout ${JSON.stringify(r.stdout.slice(-80))}`)),
    },
    {
      name: 'close-fds-3-4', weight: 1.5, session: false, expect: 'crashed',
      make: () => ({ params: { code: CLOSE_CONTROL_FDS } }),
    },
    {
      name: 'cancel-running', weight: 1, session: false, expect: 'cancelled',
      make: () => ({ params: { code: `import time\nprint("started", flush=True)\n${SLEEP_FOREVER}`, limits: { timeoutMs: 10_000 } }, cancel: { onOutput: 'started\n' }, stream: true }),
      check: (r) => (r.stdout === 'started\n' ? undefined : `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`),
    },
    {
      name: 'cancel-anytime', weight: 1, session: false, expect: 'cancelled',
      make: (_i, r) => ({ params: { code: SLEEP_FOREVER, limits: { timeoutMs: 10_000 } }, cancel: { afterMs: 1 + Math.floor(r * 200) } }),
    },
    // Sessions: mostly good code, some limits that interrupt (state kept), now and then a kill (restart).
    ...goodKinds(true, (_s, inSession) => inSession),
    {
      name: 's-counter', weight: 8, session: true, expect: 'ok',
      make: () => ({ params: { code: '_soak_n = globals().get("_soak_n", 0) + 1\n_soak_n' } }),
      check: all((r) => (Number(r.value?.['text/plain']) >= 1 ? undefined : `value ${JSON.stringify(r.value)}`), restarted(false)),
    },
    {
      name: 's-timeout', weight: 3, session: true, expect: 'timeout',
      make: () => ({ params: { code: SLEEP_FOREVER, limits: { timeoutMs: 300 } } }),
      check: all((r) => (r.error?.type === 'KeyboardInterrupt' ? undefined : `error ${JSON.stringify(r.error)?.slice(0, 120)}`), restarted(false)),
    },
    {
      name: 's-output-flood', weight: 3, session: true, expect: 'output_limit',
      make: () => ({ params: { code: FLOOD, limits: { maxOutputBytes: 10 * 1024 } }, stream: true }),
      check: all((r, _i, seen) => (Buffer.byteLength(r.stdout) > 10 * 1024 || !r.stdoutTruncated ? `stdout ${Buffer.byteLength(r.stdout)} bytes, truncated ${r.stdoutTruncated}` : streamCheck(r, seen)), restarted(false)),
    },
    {
      name: 's-cancel', weight: 4, session: true, expect: 'cancelled',
      make: () => ({ params: { code: `import time\nprint("started", flush=True)\n${SLEEP_FOREVER}`, limits: { timeoutMs: 10_000 } }, cancel: { onOutput: 'started\n' }, stream: true }),
      check: all((r) => (r.stdout === 'started\n' ? undefined : `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`), restarted(false)),
    },
    {
      name: 's-kill-cpu', weight: 0.5, session: true, expect: 'cpu_limit',
      make: () => ({ params: { code: CPU_SPIN, limits: { cpuMs: 200, timeoutMs: 10_000 } } }),
      check: restarted(true),
    },
    {
      name: 's-kill-memory', weight: 0.5, session: true, expect: 'memory_limit',
      make: () => ({ params: { code: MEMORY_HOG, limits: { timeoutMs: 10_000 } } }),
      check: restarted(true),
    },
    {
      name: 's-kill-exit-137', weight: 0.5, session: true, expect: 'crashed',
      make: () => ({ params: { code: 'import os\nos._exit(137)' } }),
      check: restarted(true),
    },
    {
      name: 's-kill-close-fds', weight: 0.5, session: true, expect: 'crashed',
      make: () => ({ params: { code: CLOSE_CONTROL_FDS } }),
      check: restarted(true),
    },
  ];
  return kinds;
}

/** Limits every session is opened with (memoryBytes and maxProcesses hold for its whole life). */
const SESSION_LIMITS = { memoryBytes: 128 * MiB, maxProcesses: 16 };

/** mulberry32: small, fast, good enough for a test mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface PlanItem {
  readonly kind: Kind;
  readonly session: number;
  readonly r: number;
}

function plan(kinds: readonly Kind[], runs: number, sessions: number, seed: number): PlanItem[] {
  const random = prng(seed);
  const total = kinds.reduce((s, k) => s + k.weight, 0);
  const out: PlanItem[] = [];
  for (let i = 0; i < runs; i++) {
    let x = random() * total;
    let kind = kinds[kinds.length - 1]!;
    for (const k of kinds) {
      if (x < k.weight) {
        kind = k;
        break;
      }
      x -= k.weight;
    }
    out.push({ kind, session: Math.floor(random() * sessions), r: random() });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Host observation

function rssMiB(pid: number): number {
  try {
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? NaN);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

const TEMP_PREFIXES = ['pycell-', 'pycellweak-'];

function tempDirs(): Set<string> {
  try {
    // Directories only: other programs (a fuzz test's /tmp/pycell-fuzz-*.bin) may leave files with the prefix.
    return new Set(readdirSync('/tmp', { withFileTypes: true }).filter((e) => e.isDirectory() && TEMP_PREFIXES.some((p) => e.name.startsWith(p))).map((e) => join('/tmp', e.name)));
  } catch {
    return new Set();
  }
}

/** The pid named in a runtime dir's owner file, or undefined. */
function ownerOf(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'owner'), 'utf8').trim().split(' ')[0]);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** cgroup directories named after this broker (pycell-<pid>-*), anywhere under /sys/fs/cgroup. */
function cgroupsOf(brokerPid: number): string[] {
  const prefix = `pycell-${brokerPid}-`;
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let names: Dirent[];
    try {
      names = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of names) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith(prefix)) found.push(path);
      else if (depth < 5) walk(path, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

const describeProc = (p: HostProc): string => `pid ${p.pid} uid ${p.uid} ppid ${p.ppid} ${p.comm}: ${p.cmdline.slice(0, 140)}`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Watches the broker's stdout (a second 'data' listener beside the client's reader) and counts
 * responses per id, in LSP framing: the client library silently drops a second response for an id,
 * so "answered exactly once" is checked here, on the wire.
 */
export class WireTap {
  private buffer: Buffer = Buffer.alloc(0);
  readonly perId = new Map<string, number>();
  responses = 0;
  notifications = 0;
  brokerRequests = 0;
  garbage = 0;
  readonly examples: string[] = [];

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const header = this.buffer.subarray(0, end).toString('latin1');
      const length = Number(/Content-Length:\s*(\d+)/i.exec(header)?.[1] ?? NaN);
      if (!Number.isFinite(length)) {
        this.garbage++;
        this.buffer = this.buffer.subarray(end + 4);
        continue;
      }
      if (this.buffer.length < end + 4 + length) return;
      const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(end + 4 + length);
      this.frame(body);
    }
  }

  private frame(body: string): void {
    let message: { id?: unknown; method?: unknown; result?: unknown; error?: unknown };
    try {
      message = JSON.parse(body) as typeof message;
    } catch {
      this.garbage++;
      return;
    }
    if (typeof message.method === 'string') {
      if (message.id === undefined) this.notifications++;
      else this.brokerRequests++;
      return;
    }
    this.responses++;
    const key = JSON.stringify(message.id ?? null);
    const count = (this.perId.get(key) ?? 0) + 1;
    this.perId.set(key, count);
    if (count === 2 && this.examples.length < 5) this.examples.push(`id ${key} answered twice; latest: ${body.slice(0, 200)}`);
  }

  /** Ids answered more than once, and ids this client never sent (it sends 0, 1, 2, … in order). */
  audit(sentIds: number): { duplicateIds: number; unknownIds: number } {
    let duplicateIds = 0;
    let unknownIds = 0;
    for (const [key, count] of this.perId) {
      if (count > 1) duplicateIds++;
      const id = JSON.parse(key) as unknown;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= sentIds) {
        unknownIds++;
        if (this.examples.length < 5) this.examples.push(`response for id ${key}, never sent`);
      }
    }
    return { duplicateIds, unknownIds };
  }
}

function quantiles(samples: number[]): { p50: number; p99: number; max: number } {
  if (samples.length === 0) return { p50: 0, p99: 0, max: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

function excerpt(result: ExecuteResult): string {
  const { stdout, stderr, ...rest } = result;
  return JSON.stringify({ ...rest, stdout: stdout.slice(0, 160), stderr: stderr.slice(0, 160) }).slice(0, 700);
}

// ---------------------------------------------------------------------------------------------
// The soak

export async function soak(options: SoakOptions = {}): Promise<SoakSummary> {
  const runs = options.runs ?? 10_000;
  const concurrency = options.concurrency ?? 16;
  const seed = options.seed ?? DEFAULT_SEED;
  const sessionCount = options.sessions ?? 4;
  const poolSize = options.poolSize ?? 4;
  const lostAfterMs = options.lostAfterMs ?? 60_000;
  const log = options.log ?? (() => undefined);
  const sandboxUids = options.sandboxUids ?? { first: 1_900_000_000 + (process.pid % 50_000) * 4096, count: 4096 };
  const brokerArgs = [
    '--pool-size', String(poolSize),
    '--max-queue', String(Math.max(1000, concurrency * 4)),
    '--max-sessions', String(Math.max(8, sessionCount)),
    '--sandbox-uids', `${sandboxUids.first}:${sandboxUids.count}`,
    '--log-level', 'warn',
    ...(options.extraBrokerArgs ?? []),
  ];
  const daemonTag = `pycell-soak-${process.pid}-daemon-`;
  const kinds = buildKinds(daemonTag);
  const items = plan(kinds, runs, sessionCount, seed);
  const failures: string[] = [];
  const notes: string[] = [];

  // As root every sandbox process runs as a uid of the range (one per live sandbox); otherwise as the
  // broker's own uid, which says nothing: then only command lines (runtime dir, daemon tag) are checked.
  const asRoot = process.getuid?.() === 0;
  let uids = sandboxUids;
  const inRange = (uid: number): boolean => asRoot && uid >= uids.first && uid < uids.first + uids.count;
  const tempBefore = tempDirs();
  const procsBefore = new Set([...scanHost().values()].filter((p) => inRange(p.uid)).map((p) => `${p.pid}:${p.startTime}`));
  if (procsBefore.size > 0) log(`note: ${procsBefore.size} processes of uids ${sandboxUids.first}+${sandboxUids.count} existed before the soak (ignored)`);

  const wallStart = performance.now();
  const broker: BrokerClient = await spawnBroker({ args: brokerArgs, stderr: 'pipe' });
  const child = broker.child!;
  const brokerPid = child.pid!;
  const stderrTail: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail.push(chunk.toString('utf8'));
    if (stderrTail.length > 50) stderrTail.shift();
  });
  let brokerExited = false;
  let closing = false;
  let brokerDiedEarly = false;
  child.once('exit', (code, signal) => {
    brokerExited = true;
    if (!closing) {
      brokerDiedEarly = true;
      log(`!! the broker exited during the soak (code ${code}, signal ${signal}); its last logs:\n${stderrTail.join('').slice(-2000)}`);
    }
  });
  const reported = broker.initializeResult.capabilities.isolation.sandboxUids;
  if (reported && (reported.first !== uids.first || reported.count !== uids.count)) {
    log(`note: the broker reports sandbox uids ${reported.first}+${reported.count}, not the ${uids.first}+${uids.count} asked for; checking those`);
    uids = reported;
  }
  const tap = new WireTap();
  child.stdout!.on('data', (chunk: Buffer) => tap.push(chunk));
  /** Requests sent by this client, initialize (id 0) included. */
  let sent = 1;
  const status = (): Promise<StatusResult> => {
    sent++;
    return broker.status();
  };

  const rssStart = rssMiB(brokerPid);
  let rssPeak = rssStart;
  let rssAfterWarmup: number | null = null;
  /** RSS each time another tenth of the runs was answered. */
  const rssByTenth: number[] = [];
  const rssTimer = setInterval(() => {
    const now = rssMiB(brokerPid);
    if (now > rssPeak) rssPeak = now;
  }, 1000);
  rssTimer.unref();

  const sessions: ClientSession[] = [];
  for (let s = 0; s < sessionCount; s++) {
    sent++;
    sessions.push(await broker.openSession(SESSION_LIMITS));
  }
  // This broker's private runtime dir: the new /tmp/pycell-* dir whose owner file names it.
  let runtimeDir: string | null = [...tempDirs()].find((d) => !tempBefore.has(d) && ownerOf(d) === brokerPid) ?? null;
  runtimeDir ??= runtimeDirOf(brokerPid)?.replace(/\/agent$/, '') ?? null;

  log(`pycell soak: seed ${seed}, ${runs} runs, concurrency ${concurrency}, ${sessionCount} sessions, broker pid ${brokerPid}, args ${brokerArgs.join(' ')}`);
  log(`mix (weights): ${kinds.map((k) => `${k.name} ${k.weight}`).join(', ')}`);

  // Per-request bookkeeping.
  const byStatus: Record<string, number> = {};
  const rejected: Record<string, number> = {};
  const stats = new Map<string, { count: number; statuses: Record<string, number>; mismatches: number; fatal: number; example?: string; latencies: number[] }>();
  for (const k of kinds) stats.set(k.name, { count: 0, statuses: {}, mismatches: 0, fatal: 0, latencies: [] });
  let settled = 0;
  let lost = 0;
  let lateAnswers = 0;
  let guardRefused = 0;
  let done = 0;
  const lostExamples: string[] = [];

  const judge = (item: PlanItem, i: number, result: ExecuteResult, seen: Seen): void => {
    const k = item.kind;
    const s = stats.get(k.name)!;
    s.statuses[result.status] = (s.statuses[result.status] ?? 0) + 1;
    byStatus[result.status] = (byStatus[result.status] ?? 0) + 1;
    let problem: string | undefined;
    let fatal = false;
    if (k.guarded && result.stdout.includes('REFUSED')) {
      guardRefused++;
      problem = 'the GUARD refused to run the payload: not inside a sandbox';
      fatal = true;
    } else if (result.status !== k.expect) {
      problem = `expected ${k.expect}, got ${result.status}`;
      fatal = result.status === 'ok';
    } else {
      problem = k.check?.(result, i, seen);
    }
    if (problem) {
      s.mismatches++;
      if (fatal) s.fatal++;
      s.example ??= `#${i}${k.session ? ` (session ${item.session})` : ''}: ${problem}; result ${excerpt(result)}`;
    }
  };

  const runOne = async (item: PlanItem, i: number): Promise<void> => {
    const k = item.kind;
    const request = k.make(i, item.r);
    const seen = { stdout: '', stderr: '', displays: [] as MimeBundle[] };
    const controller = request.cancel ? new AbortController() : undefined;
    let cancelTimer: NodeJS.Timeout | undefined;
    const wantsStream = request.stream === true || (request.cancel !== undefined && 'onOutput' in request.cancel);
    const onOutput = wantsStream
      ? (stream: 'stdout' | 'stderr', text: string): void => {
        if (stream === 'stdout') seen.stdout += text;
        else seen.stderr += text;
        if (controller && request.cancel && 'onOutput' in request.cancel && seen.stdout.includes(request.cancel.onOutput)) controller.abort();
      }
      : undefined;
    const onDisplay = wantsStream ? (data: MimeBundle): void => void seen.displays.push(data) : undefined;
    const execOptions = { ...(controller ? { signal: controller.signal } : {}), ...(onOutput ? { onOutput, onDisplay } : {}) };
    const start = performance.now();
    sent++;
    const { code, ...rest } = request.params;
    const promise = k.session ? sessions[item.session]!.execute(code, { ...rest, ...execOptions }) : broker.execute(request.params, execOptions);
    if (controller && request.cancel && 'afterMs' in request.cancel) cancelTimer = setTimeout(() => controller.abort(), request.cancel.afterMs);
    let deadline: NodeJS.Timeout | undefined;
    let isLost = false;
    const outcome = await new Promise<'settled' | 'lost'>((resolve) => {
      deadline = setTimeout(() => {
        isLost = true; // before any later settle can run: it then counts as late, never as answered
        resolve('lost');
      }, lostAfterMs);
      promise.then(
        (result) => {
          if (isLost) {
            lateAnswers++;
            return;
          }
          settled++;
          const s = stats.get(k.name)!;
          s.count++;
          s.latencies.push(performance.now() - start);
          judge(item, i, result, seen);
          resolve('settled');
        },
        (error: unknown) => {
          if (isLost) {
            lateAnswers++;
            return;
          }
          settled++;
          const code = (error as { code?: unknown }).code;
          const label = `${code ?? '?'} ${(error as Error).message ?? String(error)}`.slice(0, 120);
          rejected[label] = (rejected[label] ?? 0) + 1;
          const s = stats.get(k.name)!;
          s.count++;
          s.mismatches++;
          s.statuses['(error response)'] = (s.statuses['(error response)'] ?? 0) + 1;
          s.example ??= `#${i}: answered with an error instead of a result: ${label}`;
          resolve('settled');
        },
      );
    });
    clearTimeout(deadline);
    clearTimeout(cancelTimer);
    if (outcome === 'lost') {
      lost++;
      const s = stats.get(k.name)!;
      s.count++;
      s.mismatches++;
      s.statuses['(lost)'] = (s.statuses['(lost)'] ?? 0) + 1;
      s.example ??= `#${i}: no answer within ${lostAfterMs} ms`;
      if (lostExamples.length < 5) lostExamples.push(`#${i} ${k.name}`);
    }
    done++;
    while (rssByTenth.length < 10 && done >= Math.ceil(((rssByTenth.length + 1) * runs) / 10)) rssByTenth.push(rssMiB(brokerPid));
    if (rssAfterWarmup === null && rssByTenth.length > 0) rssAfterWarmup = rssByTenth[0]!;
  };

  const soakStart = performance.now();
  let next = 0;
  const progressEvery = Math.max(1, Math.ceil(runs / 10));
  let nextProgress = progressEvery;
  const progress = setInterval(() => {
    if (done >= nextProgress) {
      while (nextProgress <= done) nextProgress += progressEvery;
      const seconds = (performance.now() - soakStart) / 1000;
      log(`  ${done}/${runs} answered, ${(done / seconds).toFixed(1)} runs/s, lost ${lost}, broker RSS ${rssMiB(brokerPid).toFixed(1)} MiB`);
    }
  }, 250);
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length && !brokerExited) {
      const i = next++;
      await runOne(items[i]!, i);
    }
  }));
  clearInterval(progress);
  const soakMs = performance.now() - soakStart;
  if (next < items.length) failures.push(`the broker died: only ${next} of ${runs} executes were issued`);

  // Settle: nothing running, starting or queued.
  let finalStatus: StatusResult | null = null;
  let settledPool = false;
  const settle = async (timeoutMs: number): Promise<void> => {
    const until = Date.now() + timeoutMs;
    settledPool = false;
    while (!brokerExited && Date.now() < until) {
      try {
        finalStatus = await status();
      } catch {
        break;
      }
      if (finalStatus.workers.busy === 0 && finalStatus.workers.starting === 0 && finalStatus.queued === 0) {
        settledPool = true;
        return;
      }
      await sleep(100);
    }
  };
  await settle(30_000);
  for (const session of sessions) {
    if (brokerExited) break;
    sent++;
    try {
      await session.close();
    } catch (error) {
      failures.push(`session/close failed: ${(error as Error).message}`);
    }
  }
  await settle(30_000);
  if (!settledPool) failures.push(`the pool did not settle (busy 0, starting 0, queued 0) within 30 s: ${JSON.stringify((finalStatus as StatusResult | null)?.workers)} queued ${(finalStatus as StatusResult | null)?.queued}`);

  // Settled: every sandbox process left must belong to an idle warm sandbox.
  let strays: HostProc[] = [];
  const strayDeadline = Date.now() + 3000;
  for (;;) {
    const host = scanHost();
    const children = childrenOf(host);
    const warm = new Set<number>();
    for (const sandbox of children.get(brokerPid) ?? []) {
      const tree = subtree(sandbox.pid, host, children);
      if (isIdleWarmSandbox(tree)) tree.forEach((p) => warm.add(p.pid));
    }
    const mine = new Set(subtree(brokerPid, host, children).map((p) => p.pid));
    strays = [...host.values()].filter((p) => !warm.has(p.pid) && p.pid !== brokerPid && !procsBefore.has(`${p.pid}:${p.startTime}`)
      && (inRange(p.uid) || p.cmdline.includes(daemonTag) || (!asRoot && mine.has(p.pid))));
    if (strays.length === 0 || Date.now() > strayDeadline) break;
    await sleep(100);
  }
  const rssEnd = rssMiB(brokerPid);
  clearInterval(rssTimer);

  // Close cleanly, then look for anything left on the host 2 s later.
  closing = true;
  let brokerExitCode: number | null = null;
  if (!brokerExited) {
    sent++; // shutdown
    let closeTimer: NodeJS.Timeout | undefined;
    const closeTimeout = new Promise<'timeout'>((resolve) => (closeTimer = setTimeout(() => resolve('timeout'), 30_000)));
    const closed = await Promise.race([broker.close(), closeTimeout]);
    clearTimeout(closeTimer);
    if (closed === 'timeout') {
      failures.push('the broker did not exit within 30 s of shutdown/exit; killed it');
      child.kill('SIGKILL');
    } else {
      brokerExitCode = closed;
    }
  } else {
    brokerExitCode = child.exitCode;
    broker.connection.dispose();
  }
  await sleep(2000);
  const wire = { responses: tap.responses, expectedResponses: sent - 1, ...tap.audit(sent), examples: tap.examples };
  const leaked = [...scanHost().values()].filter((p) => p.pid !== process.pid && !procsBefore.has(`${p.pid}:${p.startTime}`) && (inRange(p.uid) || p.cmdline.includes(daemonTag) || (runtimeDir !== null && p.cmdline.includes(runtimeDir))));
  const tempAfter = tempDirs();
  const leakedDirs: string[] = [];
  const foreignDirs: string[] = [];
  for (const dir of tempAfter) {
    if (tempBefore.has(dir)) continue;
    const name = dir.slice('/tmp/'.length);
    if (name.startsWith('pycellweak-')) {
      let uid = -1;
      try {
        uid = statSync(dir).uid;
      } catch {
        continue; // gone meanwhile
      }
      if (uid === 0 || inRange(uid)) leakedDirs.push(dir);
      else foreignDirs.push(dir);
    } else {
      const owner = ownerOf(dir);
      if (owner !== undefined && owner !== brokerPid) foreignDirs.push(dir);
      else leakedDirs.push(dir);
    }
  }
  if (runtimeDir && tempAfter.has(runtimeDir) && !leakedDirs.includes(runtimeDir)) leakedDirs.push(runtimeDir);
  const leakedCgroups = cgroupsOf(brokerPid);
  const wallMs = performance.now() - wallStart;

  // The broker's own counters against what this client saw (findings, not failures).
  const counted = finalStatus as StatusResult | null;
  if (counted) {
    if (counted.counters.executions !== runs) notes.push(`broker/status counts ${counted.counters.executions} executions for ${runs} sent`);
    for (const status of new Set([...Object.keys(byStatus), ...Object.keys(counted.counters.byStatus)])) {
      if ((byStatus[status] ?? 0) !== (counted.counters.byStatus[status] ?? 0)) notes.push(`broker/status byStatus.${status} ${counted.counters.byStatus[status] ?? 0}, the client saw ${byStatus[status] ?? 0}`);
    }
  }
  if (!asRoot) notes.push('not root: sandbox processes were told apart by command line and process tree, not by uid');

  // Verdict.
  const answeredOnce = settled - (wire.duplicateIds > 0 ? wire.duplicateIds : 0);
  const mismatchByKind = kinds
    .map((k) => ({ k, s: stats.get(k.name)! }))
    .filter(({ s }) => s.mismatches > 0)
    .map(({ k, s }) => ({ kind: k.name, count: s.mismatches, fatal: s.fatal, example: s.example ?? '' }));
  const mismatchTotal = mismatchByKind.reduce((n, m) => n + m.count, 0);
  const fatalTotal = mismatchByKind.reduce((n, m) => n + m.fatal, 0);
  if (lost > 0) failures.push(`${lost} requests lost (no answer within ${lostAfterMs} ms): ${lostExamples.join(', ')}`);
  if (settled !== runs) failures.push(`${settled} of ${runs} executes settled`);
  if (wire.duplicateIds > 0) failures.push(`${wire.duplicateIds} request ids answered more than once on the wire`);
  if (wire.unknownIds > 0) failures.push(`${wire.unknownIds} responses for ids this client never sent`);
  if (wire.responses !== wire.expectedResponses && !brokerDiedEarly) failures.push(`${wire.responses} responses on the wire for ${wire.expectedResponses} requests`);
  if (fatalTotal > 0) failures.push(`${fatalTotal} fatal status mismatches ("ok" where another status was expected, or the GUARD refused)`);
  if (strays.length > 0) failures.push(`${strays.length} sandbox processes left over once the pool settled`);
  if (leaked.length > 0) failures.push(`${leaked.length} processes leaked after close`);
  if (leakedDirs.length > 0) failures.push(`${leakedDirs.length} temp dirs leaked`);
  if (leakedCgroups.length > 0) failures.push(`${leakedCgroups.length} cgroups leaked`);
  if (brokerDiedEarly) failures.push('the broker exited before it was closed');
  else if (brokerExitCode !== 0) failures.push(`the broker exited with code ${brokerExitCode} after shutdown/exit (expected 0)`);

  return {
    seed, runs, concurrency, sessions: sessionCount, poolSize, brokerArgs, sandboxUids: uids, notes,
    requests: runs,
    settled,
    answeredOnce,
    lost,
    lateAnswers,
    rejected,
    byStatus,
    mismatches: { total: mismatchTotal, fatal: fatalTotal, byKind: mismatchByKind },
    guardRefused,
    wire: { responses: wire.responses, expectedResponses: wire.expectedResponses, duplicateIds: wire.duplicateIds, unknownIds: wire.unknownIds, examples: wire.examples },
    strayAtSettle: { count: strays.length, examples: strays.slice(0, 5).map(describeProc) },
    leakedProcesses: { count: leaked.length, examples: leaked.slice(0, 5).map(describeProc) },
    leakedTempDirs: { count: leakedDirs.length, paths: leakedDirs, foreignIgnored: foreignDirs },
    leakedCgroups: { count: leakedCgroups.length, paths: leakedCgroups.slice(0, 10) },
    runtimeDir,
    rssMiB: { start: rssStart, afterWarmup: rssAfterWarmup, byTenth: rssByTenth, peak: Math.max(rssPeak, rssEnd), end: rssEnd },
    settledPool,
    wallMs,
    soakMs,
    runsPerSecond: settled / (soakMs / 1000),
    brokerExitCode,
    brokerDiedEarly,
    finalStatus,
    kinds: kinds.map((k) => {
      const s = stats.get(k.name)!;
      return { kind: k.name, session: k.session, expect: k.expect, count: s.count, statuses: s.statuses, mismatches: s.mismatches, fatal: s.fatal, ...(s.example ? { example: s.example } : {}), latencyMs: quantiles(s.latencies) };
    }),
    failures,
    pass: failures.length === 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const fmtCounts = (counts: Record<string, number>): string =>
  Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || '—';

function fmtDuration(ms: number): string {
  const s = ms / 1000;
  return s >= 60 ? `${Math.floor(s / 60)}m ${(s % 60).toFixed(1)}s` : `${s.toFixed(1)}s`;
}

export function formatSummary(s: SoakSummary): string {
  const rows: [string, string][] = [];
  const row = (label: string, value: string | number): void => void rows.push([label, String(value)]);
  const f = s.finalStatus;
  row('requests', s.requests);
  row('answered exactly once', `${s.answeredOnce}${s.answeredOnce === s.requests ? '' : `  (settled ${s.settled})`}`);
  row('lost (must be 0)', s.lost);
  if (s.lateAnswers > 0) row('answered after being declared lost', s.lateAnswers);
  row('error responses', Object.keys(s.rejected).length === 0 ? '0' : fmtCounts(s.rejected));
  row('wire: responses / requests', `${s.wire.responses} / ${s.wire.expectedResponses}, duplicate ids ${s.wire.duplicateIds}, unknown ids ${s.wire.unknownIds}`);
  row('by status', fmtCounts(s.byStatus));
  row('status mismatches', `${s.mismatches.total} (fatal ${s.mismatches.fatal})`);
  for (const m of s.mismatches.byKind) row(`  ${m.kind}`, `${m.count}${m.fatal ? ` (${m.fatal} fatal)` : ''} — e.g. ${m.example}`);
  row('GUARD refused', s.guardRefused);
  row('stray sandbox processes at settle', s.strayAtSettle.count + (s.strayAtSettle.examples.length ? ` — ${s.strayAtSettle.examples.join(' | ')}` : ''));
  row('leaked processes (2 s after close)', s.leakedProcesses.count + (s.leakedProcesses.examples.length ? ` — ${s.leakedProcesses.examples.join(' | ')}` : ''));
  row('leaked temp dirs', s.leakedTempDirs.count + (s.leakedTempDirs.paths.length ? ` — ${s.leakedTempDirs.paths.join(', ')}` : '') + (s.leakedTempDirs.foreignIgnored.length ? `  (ignored ${s.leakedTempDirs.foreignIgnored.length} new dirs owned by other brokers)` : ''));
  row('leaked cgroups', s.leakedCgroups.count + (s.leakedCgroups.paths.length ? ` — ${s.leakedCgroups.paths.join(', ')}` : ''));
  row('broker RSS start / end (MiB)', `${s.rssMiB.start.toFixed(1)} / ${s.rssMiB.end.toFixed(1)}   (peak ${s.rssMiB.peak.toFixed(1)}; at each tenth of the runs: ${s.rssMiB.byTenth.map((v) => v.toFixed(0)).join(' ')})`);
  row('wall time', `${fmtDuration(s.wallMs)} (executes ${fmtDuration(s.soakMs)})`);
  row('runs/s', s.runsPerSecond.toFixed(1));
  row('broker exit code', s.brokerDiedEarly ? `${s.brokerExitCode} (died before close)` : String(s.brokerExitCode));
  if (f) {
    row('broker/status workers', `idle ${f.workers.idle}, busy ${f.workers.busy}, starting ${f.workers.starting}, queued ${f.queued}, sessions ${f.sessions}, unavailable ${f.unavailable ?? 'null'}${s.settledPool ? '' : '  (NOT settled)'}`);
    row('broker/status executions', f.counters.executions);
    row('broker/status byStatus', fmtCounts(f.counters.byStatus));
    row('broker/status killsByReason', fmtCounts(f.counters.killsByReason));
    row('broker/status workersLost', f.counters.workersLost);
    row('broker/status respawns', f.counters.respawns);
    row('broker/status startFailures', f.counters.startFailures);
    row('broker/status queueHighWater', f.counters.queueHighWater);
    row('broker/status monitor', `${f.monitor.sweeps} sweeps, mean ${f.monitor.meanSweepMs.toFixed(2)} ms, every ${f.monitor.intervalMs} ms, uptime ${fmtDuration(f.uptimeMs)}`);
  } else {
    row('broker/status', 'unavailable');
  }
  for (const note of s.notes) row('note', note);
  row('verdict', s.pass ? 'PASS' : `FAIL — ${s.failures.join('; ')}`);
  const width = Math.max(...rows.map(([l]) => l.length));
  const lines = [`== pycell soak: seed ${s.seed}, ${s.runs} runs, concurrency ${s.concurrency}, ${s.sessions} sessions, pool ${s.poolSize} ==`];
  for (const [label, value] of rows) lines.push(`${label.padEnd(width)}  ${value}`);
  lines.push('', 'by kind (expected status; what came back; latency p50 / p99 / max):');
  const kw = Math.max(...s.kinds.map((k) => k.kind.length));
  for (const k of s.kinds) {
    lines.push(`  ${k.kind.padEnd(kw)}  ${String(k.count).padStart(5)}  expect ${k.expect.padEnd(12)} got ${fmtCounts(k.statuses).padEnd(28)} ${k.latencyMs.p50.toFixed(0)} / ${k.latencyMs.p99.toFixed(0)} / ${k.latencyMs.max.toFixed(0)} ms${k.mismatches ? `  MISMATCH ${k.mismatches}` : ''}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI

function parseArgs(argv: readonly string[]): SoakOptions & { json?: string } {
  const out: { -readonly [K in keyof SoakOptions]: SoakOptions[K] } & { json?: string } = {};
  const int = (name: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer ≥ ${min}, got ${value}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    switch (flag) {
      case '--runs': out.runs = int(flag, value, 1); i++; break;
      case '--concurrency': out.concurrency = int(flag, value, 1); i++; break;
      case '--seed': out.seed = int(flag, value, 0); i++; break;
      case '--sessions': out.sessions = int(flag, value, 1); i++; break;
      case '--pool-size': out.poolSize = int(flag, value, 1); i++; break;
      case '--lost-after-ms': out.lostAfterMs = int(flag, value, 1); i++; break;
      case '--json': if (!value) throw new Error('--json needs a file'); out.json = value; i++; break;
      case '--help': case '-h':
        console.log('usage: npm run soak -- [--runs N (10000)] [--concurrency C (16)] [--seed S] [--json FILE] [--sessions K (4)] [--pool-size P (4)] [--lost-after-ms MS (60000)]');
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${flag} (--help)`);
    }
  }
  return out;
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  console.log(`pycell soak: seed ${options.seed ?? DEFAULT_SEED} (--seed to replay), ${options.runs ?? 10_000} runs, concurrency ${options.concurrency ?? 16}`);
  const summary = await soak({ ...options, log: (line) => console.log(line) });
  console.log(formatSummary(summary));
  if (options.json) writeFileSync(options.json, `${JSON.stringify(summary, null, 2)}\n`);
  process.exitCode = summary.pass ? 0 : 1;
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) await main();
