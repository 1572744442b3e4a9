import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Monitor } from '../monitor/monitor.js';
import { agentMessageSchema, type AgentComplete, type AgentCompletion, type AgentMessage } from '../protocol/agent.js';
import type { ExecuteResult } from '../protocol/execute.js';
import { hiddenMemoryBytes } from '../monitor/hidden.js';
import type { CgroupLayout, CgroupLimits } from '../sandbox/cgroups.js';
import type { LaunchSpec } from '../sandbox/launch.js';
import type { UidPool } from '../sandbox/uids.js';
import { LineSplitter } from './lines.js';
import type { KillReason } from './outcome.js';
import type { StreamName } from './output.js';
import { ActiveRun, type RunHooks, type RunJob } from './run.js';
import { SandboxResources } from './resources.js';
import { spawnWorker, type Spawned } from './spawn.js';
import { killWorker } from './stop.js';

export type { RunHooks, RunJob } from './run.js';

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
  /** single: one run, then the worker exits. session: runs one after another in one namespace. */
  readonly mode: 'single' | 'session';
  /** Session mode: how long an interrupted run may take to yield before its worker is killed. */
  readonly interruptGraceMs: number;
  /** A root broker gives each sandbox a host uid of its own, so RLIMIT_NPROC counts that sandbox alone. */
  readonly uids?: UidPool;
  /** Where per-sandbox cgroups are made, when the host offers them. */
  readonly cgroups?: CgroupLayout;
  /** Without a cgroup, the monitor adds the sandbox's tmpfs and memfd pages to its memory sum. */
  readonly countHiddenMemory?: boolean;
  /** Cgroup limits set while the worker is idle, off the request path; a run with other limits sets its own. */
  readonly idleCgroupLimits?: CgroupLimits;
  /** Shared by every worker of a broker, for broker/status. */
  readonly counters?: WorkerCounters;
}

/** Why the broker killed sandboxes, and how many died without it (crashes, kills from outside). */
export interface WorkerCounters {
  readonly killsByReason: Partial<Record<KillReason, number>>;
  lost: number;
}

/** What receives the agent's messages and output while it works on something. */
interface Task {
  onAgentMessage(message: Exclude<AgentMessage, { type: 'ready' }>): void;
  pushOutput(stream: StreamName, chunk: Buffer): void;
  protocolProblem: string | undefined;
  recordKill(reason: KillReason): void;
  /** The agent reported this task's result (a run's; a completion's answer). */
  readonly reported?: boolean;
}

/** Output kept from while no run was active (start-up errors; a session's background prints), for the next one. */
const IDLE_OUTPUT_BYTES = 64 * 1024;
/** How long after the process exits its pipes may stay open before the broker stops waiting for them. */
const EXIT_GRACE_MS = 2000;
let nextTaskId = 1;

/** One agent in one fresh sandbox: single-use (one run, then gone) or a session's (many runs, one namespace). */
export class SandboxWorker implements WorkerHandle {
  readonly ready: Promise<void>;
  readonly exited: Promise<ExitInfo>;
  private readonly spawned: Spawned;
  private known: Map<number, number> | undefined;
  private agent: { pid: number; startTime: number } | undefined;
  private task: Task | undefined;
  private used = false;
  private dead = false;
  private idleOutput: { stream: StreamName; chunk: Buffer }[] = [];
  private idleBytes = 0;
  private startProblem: string | undefined;
  private onReady: (() => void) | undefined;
  private controlBytes = 0;
  private killedFor: KillReason | undefined;
  private readonly resources: SandboxResources;

  constructor(spec: LaunchSpec, private readonly options: WorkerOptions) {
    this.resources = new SandboxResources(spec, options);
    this.spawned = spawnWorker(this.resources.spec);
    const { child } = this.spawned;
    if (child.pid !== undefined) this.resources.join([child.pid]);
    const stdio = this.stdio();
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
    // A session's stdin is sent with each execute; fd 0 is at EOF so that its subprocesses read nothing.
    if (options.mode === 'session') stdio[0].end();
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.dead = true;
        // Lost: it ended without the broker killing it and without reporting a result (a single-use agent
        // exits after reporting its one run; a session's never exits on its own).
        // The kernel's OOM kill in the sandbox's cgroup is the broker's memory limit at work, not a loss.
        if (!this.killedFor && (this.resources.cgroup?.oomKillsSinceMark() ?? 0) > 0) this.count('memory_limit');
        // A sandbox that failed to start (a start failure, counted by the pool) was not lost either.
        else if (!this.killedFor && !this.startProblem && !this.task?.reported && options.counters) options.counters.lost += 1;
        resolve({ exitCode: code, signal });
        this.resources.release();
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
      if (this.resources.problem) {
        this.startProblem = this.resources.problem;
        killWorker(this.spawned);
      }
      const timer = setTimeout(() => {
        this.startProblem = `the worker did not become ready within ${options.startTimeoutMs} ms`;
        killWorker(this.spawned);
      }, options.startTimeoutMs);
      this.onReady = () => {
        clearTimeout(timer);
        if (child.pid !== undefined) ({ known: this.known, leaf: this.agent } = options.monitor.discoverTree(child.pid));
        this.resources.join(this.known?.keys() ?? [], options.idleCgroupLimits);
        if (this.resources.problem) {
          this.startProblem = this.resources.problem;
          return killWorker(this.spawned);
        }
        resolve();
      };
      void this.exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(this.startFailure(exit)));
      });
    });
    this.ready.catch(() => undefined);
  }

  /** True while the process lives and nothing is running on it. */
  get idle(): boolean {
    return !this.dead && !this.task && !this.onReady;
  }

  get alive(): boolean {
    return !this.dead;
  }

  run(job: RunJob, hooks: RunHooks): Promise<ExecuteResult> {
    if (this.task || this.onReady || this.dead || (this.used && this.options.mode === 'single')) throw new Error('worker is not ready, busy or already used');
    this.used = true;
    const known = this.known ?? new Map<number, number>();
    const run = new ActiveRun(job, hooks, {
      spawned: this.spawned, options: this.options, known, exited: this.exited, persistent: this.options.mode === 'session',
      kill: (reason) => this.kill(reason), interrupt: () => this.interrupt(), isDead: () => this.dead,
      cgroup: this.resources.cgroup,
      hiddenMemory: this.options.countHiddenMemory && this.agent ? (pids) => hiddenMemoryBytes(this.agent!.pid, pids) : undefined,
    });
    this.task = run;
    for (const { stream, chunk } of this.idleOutput) run.pushOutput(stream, chunk);
    this.idleOutput = [];
    this.idleBytes = 0;
    return run.start().finally(() => {
      if (this.task === run) this.task = undefined;
    });
  }

  /**
   * Session mode: completion candidates from the live namespace. Past timeoutMs the agent is interrupted
   * (the answer is then empty); if it does not yield within the grace period the worker is killed.
   */
  complete(code: string, cursor: number, timeoutMs: number): Promise<AgentCompletion | undefined> {
    if (this.task || this.onReady || this.dead) throw new Error('worker is not ready or busy');
    const id = nextTaskId++;
    return new Promise<AgentCompletion | undefined>((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        if (!this.interrupt()) return this.kill('timeout');
        grace = setTimeout(() => this.kill('timeout'), this.options.interruptGraceMs);
      }, timeoutMs);
      const settle = (value: AgentCompletion | undefined): void => {
        clearTimeout(timer);
        clearTimeout(grace);
        if (this.task === task) this.task = undefined;
        resolve(value);
      };
      const task: Task = {
        protocolProblem: undefined,
        recordKill: () => undefined,
        pushOutput: (stream, chunk) => this.keepIdle(stream, chunk),
        onAgentMessage: (message) => {
          if (message.type === 'completion' && message.id === id) settle(message);
          else this.protocolFault(`a ${message.type} message during a completion`);
        },
      };
      this.task = task;
      void this.exited.then(() => settle(undefined));
      const message: AgentComplete = { type: 'complete', id, code, cursor };
      this.stdio()[3].write(`${JSON.stringify(message)}\n`);
    });
  }

  /** SIGINT to the agent, so user code gets KeyboardInterrupt; false when there is no agent to signal. */
  interrupt(): boolean {
    if (this.dead || !this.agent) return false;
    return this.options.monitor.signalIfSame(this.agent, 'SIGINT');
  }

  kill(reason: KillReason): void {
    const { child } = this.spawned;
    // A kill that lands after the process ended on its own does not rewrite why it ended.
    if (child.exitCode === null && child.signalCode === null && !this.killedFor) {
      this.count(reason);
      this.task?.recordKill(reason);
    }
    killWorker(this.spawned);
  }

  private count(reason: KillReason): void {
    this.killedFor = reason;
    const kills = this.options.counters?.killsByReason;
    if (kills) kills[reason] = (kills[reason] ?? 0) + 1;
  }

  private stdio(): [Writable, Readable, Readable, Writable, Readable] {
    return this.spawned.child.stdio as unknown as [Writable, Readable, Readable, Writable, Readable];
  }

  private onOutput(stream: StreamName, chunk: Buffer): void {
    if (this.task) this.task.pushOutput(stream, chunk);
    else this.keepIdle(stream, chunk);
  }

  private keepIdle(stream: StreamName, chunk: Buffer): void {
    if (this.idleBytes >= IDLE_OUTPUT_BYTES) return;
    this.idleBytes += chunk.length;
    this.idleOutput.push({ stream, chunk });
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
    if (!this.task) return this.protocolFault(`a ${value.type} message while no run was active`);
    this.task.onAgentMessage(value);
  }

  private protocolFault(problem: string): void {
    this.options.log.warn({ problem }, 'worker broke the control protocol');
    if (this.task) this.task.protocolProblem ??= problem;
    else if (this.onReady) this.startProblem ??= `the worker broke the control protocol while starting: ${problem}`;
    this.kill('protocol');
  }

  private startFailure(exit: ExitInfo): string {
    const stderr = Buffer.concat(this.idleOutput.filter((o) => o.stream === 'stderr').map((o) => o.chunk)).toString('utf8').trim();
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
    const base = this.startProblem ?? `the sandbox ${how} before it was ready`;
    return stderr ? `${base}: ${stderr.slice(0, 2000)}` : base;
  }
}
