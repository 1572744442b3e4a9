import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Monitor, Watch, WatchRecord } from '../monitor/monitor.js';
import { agentMessageSchema, type AgentExecute, type AgentResult } from '../protocol/agent.js';
import type { ExecuteResult, MimeBundle } from '../protocol/execute.js';
import type { LaunchSpec } from '../sandbox/launch.js';
import { LineSplitter } from './lines.js';
import { decideOutcome, type KillReason } from './outcome.js';
import { OutputCollector, type StreamName } from './output.js';
import { spawnWorker, type Spawned } from './spawn.js';
import { killWorker } from './stop.js';
import type { Limits } from '../protocol/limits.js';

/** One run handed to a worker. */
export interface RunJob {
  readonly code: string;
  readonly stdin: string;
  readonly files: readonly { readonly path: string; readonly content: string }[];
  readonly limits: Limits;
  readonly rlimits: AgentExecute['rlimits'];
  readonly reprLimit: number;
}

export interface RunHooks {
  readonly onOutput?: (stream: StreamName, text: string) => void;
  readonly onDisplay?: (data: MimeBundle) => void;
  readonly signal?: AbortSignal;
}

/** How a worker process ended. */
export interface ExitInfo {
  readonly exitCode: number | null;
  readonly signal: string | null;
}

/** What the pool needs of a worker; the real one is a sandbox, tests may bring their own. */
export interface WorkerHandle {
  /** Resolves when the agent reported ready; rejects with the real reason it could not start. */
  readonly ready: Promise<void>;
  readonly exited: Promise<ExitInfo>;
  run(job: RunJob, hooks: RunHooks): Promise<ExecuteResult>;
  kill(reason: KillReason): void;
}

export interface WorkerOptions {
  readonly monitor: Monitor;
  readonly log: Logger;
  readonly startTimeoutMs: number;
  /** Longest control line the broker reads from a worker, and most control bytes per run. */
  readonly maxControlLineBytes: number;
  readonly maxControlBytes: number;
}

const START_STDERR_BYTES = 8192;
/** How long after the process exits its pipes may stay open before the broker stops waiting for them. */
const EXIT_GRACE_MS = 2000;
let nextRunId = 1;

/** A single-use worker: one agent in one fresh sandbox; it runs one job and is gone. */
export class SandboxWorker implements WorkerHandle {
  readonly ready: Promise<void>;
  readonly exited: Promise<ExitInfo>;
  private readonly spawned: Spawned;
  private known: Map<number, number> | undefined;
  private run_: ActiveRun | undefined;
  private earlyOutput: { stream: StreamName; chunk: Buffer }[] = [];
  private earlyBytes = 0;
  private startProblem: string | undefined;
  private onReady: (() => void) | undefined;
  private controlBytes = 0;

  constructor(spec: LaunchSpec, private readonly options: WorkerOptions) {
    this.spawned = spawnWorker(spec);
    const { child } = this.spawned;
    const stdio = child.stdio as unknown as [Writable, Readable, Readable, Writable, Readable];
    for (const stream of stdio) stream.on('error', () => undefined); // EPIPE after a kill is expected
    stdio[1].on('data', (chunk: Buffer) => this.onOutput('stdout', chunk));
    stdio[2].on('data', (chunk: Buffer) => this.onOutput('stderr', chunk));
    const lines = new LineSplitter(options.maxControlLineBytes, (line) => this.onControl(line), (size) =>
      this.protocolFault(`control line longer than ${options.maxControlLineBytes} bytes (${size} so far)`),
    );
    stdio[4].on('data', (chunk: Buffer) => {
      this.controlBytes += chunk.length;
      if (this.controlBytes > options.maxControlBytes) {
        lines.stop();
        this.protocolFault(`more than ${options.maxControlBytes} control bytes`);
      } else lines.push(chunk);
    });
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        resolve({ exitCode: code, signal });
        try {
          this.spawned.cleanup();
        } catch (error) {
          // user code can make its weak-isolation work dir unremovable (chmod 0500 on a subdir)
          options.log.warn({ err: error }, 'could not remove a worker\'s working directory');
        }
      });
      // A process that outlives its parent (weak isolation) must not hold the run open through our pipes.
      child.once('exit', () => setTimeout(() => stdio.forEach((stream) => stream.destroy()), EXIT_GRACE_MS).unref());
    });
    child.catch(() => undefined);
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.startProblem = `the worker did not become ready within ${options.startTimeoutMs} ms`;
        killWorker(this.spawned);
      }, options.startTimeoutMs);
      this.onReady = () => {
        clearTimeout(timer);
        this.known = child.pid === undefined ? new Map() : options.monitor.discover(child.pid);
        resolve();
      };
      void this.exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(this.startFailure(exit)));
      });
    });
    this.ready.catch(() => undefined);
  }

  run(job: RunJob, hooks: RunHooks): Promise<ExecuteResult> {
    if (this.run_ || this.onReady) throw new Error('worker is not ready or already used');
    const run = new ActiveRun(job, hooks, this.spawned, this.options, this.known ?? new Map(), (reason) => this.kill(reason));
    this.run_ = run;
    for (const { stream, chunk } of this.earlyOutput) run.output.push(stream, chunk);
    this.earlyOutput = [];
    return run.start(this.exited);
  }

  kill(reason: KillReason): void {
    const { child } = this.spawned;
    // A kill that lands after the process ended on its own does not rewrite why it ended.
    if (child.exitCode === null && child.signalCode === null) this.run_?.recordKill(reason);
    killWorker(this.spawned);
  }

  private onOutput(stream: StreamName, chunk: Buffer): void {
    if (this.run_) return this.run_.output.push(stream, chunk);
    if (this.earlyBytes >= START_STDERR_BYTES) return;
    this.earlyBytes += chunk.length;
    this.earlyOutput.push({ stream, chunk });
  }

  private onControl(line: string): void {
    let message;
    try {
      message = agentMessageSchema.safeParse(JSON.parse(line));
    } catch {
      return this.protocolFault('a control line that is not JSON');
    }
    if (!message.success) return this.protocolFault(`an invalid control message (${message.error.issues[0]?.message ?? 'schema'})`);
    const value = message.data;
    if (value.type === 'ready') {
      const onReady = this.onReady;
      this.onReady = undefined;
      if (onReady) onReady();
      else this.protocolFault('a second ready message');
      return;
    }
    if (!this.run_) return this.protocolFault(`a ${value.type} message while no run was active`);
    this.run_.onAgentMessage(value);
  }

  private protocolFault(problem: string): void {
    this.options.log.warn({ problem }, 'worker broke the control protocol');
    if (this.run_) this.run_.protocolProblem ??= problem;
    else this.startProblem ??= `the worker broke the control protocol while starting: ${problem}`;
    this.kill('protocol');
  }

  private startFailure(exit: ExitInfo): string {
    const stderr = Buffer.concat(this.earlyOutput.filter((o) => o.stream === 'stderr').map((o) => o.chunk)).toString('utf8').trim();
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
    const base = this.startProblem ?? `the sandbox ${how} before it was ready`;
    return stderr ? `${base}: ${stderr.slice(0, 2000)}` : base;
  }
}

/** The state of one run: its timers, its watch, its output, and the one result it settles with. */
class ActiveRun {
  readonly output: OutputCollector;
  readonly id = nextRunId++;
  protocolProblem: string | undefined;
  private killReason: KillReason | undefined;
  private agentResult: AgentResult | undefined;
  private record: WatchRecord | undefined;
  private readonly watch: Watch;
  private startedAt = 0;

  constructor(
    private readonly job: RunJob,
    private readonly hooks: RunHooks,
    private readonly spawned: Spawned,
    private readonly options: WorkerOptions,
    private readonly known: Map<number, number>,
    private readonly kill: (reason: KillReason) => void,
  ) {
    this.output = new OutputCollector(job.limits.maxOutputBytes, (stream, text) => hooks.onOutput?.(stream, text), () => this.kill('output_limit'));
    this.watch = { rootPid: spawned.child.pid ?? -1, limits: job.limits, onExceed: (reason) => this.kill(reason) };
  }

  /** The first reason wins: a timeout that leads to an output cut stays a timeout. */
  recordKill(reason: KillReason): void {
    this.killReason ??= reason;
  }

  onAgentMessage(message: Exclude<ReturnType<typeof agentMessageSchema.parse>, { type: 'ready' }>): void {
    if (message.id !== this.id) return; // not this run's: ignore rather than trust
    if (message.type === 'display') this.hooks.onDisplay?.(message.data);
    else if (!this.agentResult) {
      this.agentResult = message;
      // The agent waits for fd 3 to close before it exits: measure it while it is still there.
      if (this.record) this.options.monitor.finalSample(this.record);
      (this.spawned.child.stdio[3] as unknown as Writable).end();
    }
  }

  async start(exited: Promise<ExitInfo>): Promise<ExecuteResult> {
    const { child } = this.spawned;
    const stdio = child.stdio as unknown as [Writable, Readable, Readable, Writable, Readable];
    this.startedAt = performance.now();
    this.record = this.options.monitor.watch(this.watch, this.known);
    const timer = setTimeout(() => this.kill('timeout'), this.job.limits.timeoutMs);
    const onAbort = (): void => this.kill('cancelled');
    if (this.hooks.signal?.aborted) onAbort();
    this.hooks.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const message: AgentExecute = {
        type: 'execute', id: this.id, code: this.job.code, files: [...this.job.files], rlimits: this.job.rlimits, reprLimit: this.job.reprLimit,
      };
      stdio[3].write(`${JSON.stringify(message)}\n`);
      stdio[0].end(this.job.stdin);
      const exit = await exited;
      return this.finish(exit);
    } finally {
      clearTimeout(timer);
      this.hooks.signal?.removeEventListener('abort', onAbort);
      this.options.monitor.unwatch(this.watch);
    }
  }

  private finish(exit: ExitInfo): ExecuteResult {
    const wallMs = performance.now() - this.startedAt;
    const usage = this.record ? this.options.monitor.finalSample(this.record) : { cpuMs: 0, peakMemoryBytes: 0 };
    // Output past the budget read after the process had already exited still ends the run as output_limit.
    if (!this.killReason && (this.output.truncated.stdout || this.output.truncated.stderr)) this.killReason = 'output_limit';
    const { status, message } = decideOutcome({ killReason: this.killReason, agentResult: this.agentResult, exitCode: exit.exitCode, signal: exit.signal, protocolProblem: this.protocolProblem });
    const { stdout, stderr } = this.output.finish();
    const trusted = status === 'ok' || status === 'error' ? this.agentResult : undefined;
    return {
      status,
      ...(message ? { message } : {}),
      stdout,
      stderr,
      stdoutTruncated: this.output.truncated.stdout,
      stderrTruncated: this.output.truncated.stderr,
      ...(trusted?.status === 'ok' && trusted.value ? { value: trusted.value } : {}),
      ...(trusted?.status === 'error' ? { error: trusted.error } : {}),
      // A sandbox the broker killed reports the broker's SIGKILL, not bubblewrap's relay of it (137).
      exitCode: this.killReason ? null : exit.exitCode,
      signal: this.killReason ? 'SIGKILL' : exit.signal,
      usage: { wallMs: round(wallMs), cpuMs: round(usage.cpuMs), peakMemoryBytes: usage.peakMemoryBytes },
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
