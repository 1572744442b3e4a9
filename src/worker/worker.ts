import type { Readable, Writable } from 'node:stream';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Monitor } from '../monitor/monitor.js';
import { agentMessageSchema, serverMessageSchema, type AgentComplete, type AgentCompletion, type AgentMessage } from '../protocol/agent.js';
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
import { forkServerOf, sandboxSurvivors } from './survivors.js';
import { treeByChildren } from '../monitor/procfs.js';

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
  /** After a run has settled: true once the worker is fit for another (process mode); false when it must go. */
  reusable?(): Promise<boolean>;
  /** Lets a worker that will not run again go, without counting a kill: a used single-use one, a recycled one. */
  retire?(): void;
}

export interface WorkerOptions {
  readonly monitor: Monitor;
  readonly log: Logger;
  readonly startTimeoutMs: number;
  /** Longest control line the broker reads from a worker, and most control bytes per run. */
  readonly maxControlLineBytes: number;
  readonly maxControlBytes: number;
  /**
   * single: one run, then the worker exits. session: runs one after another in one namespace.
   * process: a fork server, a fresh process per run, recycled after `maxRuns` runs or any anomaly.
   */
  readonly mode: 'single' | 'session' | 'process';
  /** Process mode: runs one sandbox serves before it is replaced. */
  readonly maxRuns?: number;
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

/** Process mode: the fork server's report after a run. */
interface Cleaned {
  readonly problem?: string | undefined;
  /** The next run's process, already forked (its pid in the sandbox). */
  readonly next?: number;
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
/** Process mode: how long the fork server may take to kill, reap and wipe after a run before it is replaced. */
const CLEANUP_MS = 2000;
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
  private readonly processExit: Promise<ExitInfo>;
  private lines: LineSplitter;
  private reported = false;
  private retired = false;
  private channelBroken = false;
  private runs = 0;
  /** Process mode: the last run, until the fork server says the sandbox is clean again. */
  private lastRun: { run: ActiveRun; cleaned: Promise<Cleaned>; onCleaned: (cleaned: Cleaned) => void } | undefined;

  constructor(spec: LaunchSpec, private readonly options: WorkerOptions) {
    this.resources = new SandboxResources(spec, options);
    this.spawned = spawnWorker(this.resources.spec);
    const { child } = this.spawned;
    const joined = child.pid === undefined ? Promise.resolve() : this.resources.join([child.pid]);
    const stdio = this.stdio();
    // EPIPE after a kill is expected. In process mode any error, or EOF on a stream the sandbox writes, means
    // a run shut down or broke a descriptor every later run shares: the sandbox is not reused.
    for (const stream of stdio) stream?.on('error', () => (this.channelBroken = true));
    for (const fd of [1, 2, 4, 7] as const) stdio[fd]?.on('end', () => (this.channelBroken = true));
    // fds 3 and 6 are sockets too: a run's shutdown(SHUT_WR) on its end closes the broker's.
    for (const fd of [3, 6] as const) stdio[fd]?.on('close', () => (this.channelBroken = true));
    stdio[1].on('data', (chunk: Buffer) => this.onOutput('stdout', chunk));
    stdio[2].on('data', (chunk: Buffer) => this.onOutput('stderr', chunk));
    const lines = new LineSplitter(options.maxControlLineBytes, (line) => this.onControl(line), (size) =>
      this.protocolFault(`control line longer than ${options.maxControlLineBytes} bytes (${size} so far)`),
    );
    this.lines = lines;
    stdio[4].on('data', (chunk: Buffer) => {
      this.controlBytes += chunk.length;
      if (this.controlBytes > options.maxControlBytes) {
        lines.stop();
        this.protocolFault(`more than ${options.maxControlBytes} control bytes`);
      } else lines.push(chunk);
    });
    if (options.mode === 'process') this.listenToServer();
    // A session's stdin is sent with each execute; fd 0 is at EOF so that its subprocesses read nothing.
    if (options.mode !== 'single') stdio[0].end();
    this.processExit = new Promise<ExitInfo>((resolve) => child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => resolve({ exitCode: code, signal })));
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.dead = true;
        // Lost: it ended without the broker killing it and without reporting a result (a single-use agent
        // exits after reporting its one run; a session's never exits on its own).
        // The kernel's OOM kill in the sandbox's cgroup is the broker's memory limit at work, not a loss.
        if (!this.killedFor && (this.resources.cgroup?.oomKillsSinceMark() ?? 0) > 0) this.count('memory_limit');
        // A sandbox that failed to start (a start failure, counted by the pool) was not lost either.
        else if (!this.killedFor && !this.startProblem && !this.retired && !this.task?.reported && !(this.reported && options.mode === 'single') && options.counters) options.counters.lost += 1;
        this.lastRun?.onCleaned({ problem: 'the sandbox ended' });
        resolve({ exitCode: code, signal });
        options.monitor.forget(this.known?.keys() ?? []);
        this.resources.release();
        try {
          this.spawned.cleanup();
        } catch (error) {
          // user code can make its weak-isolation work dir unremovable (chmod 0500 on a subdir)
          options.log.warn({ err: error }, 'could not remove a worker\'s working directory');
        }
      });
      // A process that outlives its parent (weak isolation) must not hold the run open through our pipes.
      child.once('exit', () => setTimeout(() => stdio.forEach((stream) => stream?.destroy()), EXIT_GRACE_MS).unref());
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
        if (child.pid !== undefined && options.mode === 'process') this.agent = forkServerOf(child.pid);
        void joined.then(() => this.resources.join(this.known?.keys() ?? [], options.idleCgroupLimits)).then(async () => {
          // A process forked between the look above and its parent's join (the fork server forks the first
          // run's process right after ready) is in the broker's cgroup: look again, now that every process
          // seen is in the sandbox's and so are all their later children.
          const late = child.pid === undefined ? [] : treeByChildren(child.pid).filter((stat) => !this.known?.has(stat.pid));
          for (const stat of late) this.known?.set(stat.pid, stat.startTime);
          if (late.length > 0) await this.resources.join(late.map((stat) => stat.pid));
          if (this.dead || child.exitCode !== null || child.signalCode !== null) return; // the exit handler rejects
          if (this.resources.problem) {
            this.startProblem = this.resources.problem;
            return killWorker(this.spawned);
          }
          resolve();
        });
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
    if (this.task || this.onReady || this.dead || this.lastRun || (this.used && this.options.mode === 'single')) throw new Error('worker is not ready, busy or already used');
    this.used = true;
    this.runs += 1;
    this.controlBytes = 0; // a budget per run
    this.lines.discard();
    const known = this.known ?? new Map<number, number>();
    const run = new ActiveRun(job, hooks, {
      spawned: this.spawned, options: this.options, known, exited: this.exited, processExit: this.processExit, kind: this.options.mode,
      kill: (reason) => this.kill(reason), interrupt: () => this.interrupt(), isDead: () => this.dead,
      cgroup: this.resources.cgroup,
      hiddenMemory: this.options.countHiddenMemory && this.agent ? (pids) => hiddenMemoryBytes(this.agent!.pid, pids) : undefined,
    });
    this.task = run;
    for (const { stream, chunk } of this.idleOutput) run.pushOutput(stream, chunk);
    this.idleOutput = [];
    this.idleBytes = 0;
    if (this.options.mode === 'process') {
      let onCleaned: (cleaned: Cleaned) => void = () => undefined;
      const cleaned = new Promise<Cleaned>((resolve) => (onCleaned = resolve));
      this.lastRun = { run, cleaned, onCleaned };
    }
    return run.start().finally(() => {
      this.reported ||= run.reported;
      if (this.task === run) this.task = undefined;
    });
  }

  /**
   * Process mode: true once the fork server has cleaned up after the last run and the broker's own look
   * at the sandbox agrees; false for any anomaly, past maxRuns, or when cleaning takes too long.
   */
  async reusable(): Promise<boolean> {
    const last = this.lastRun;
    if (this.options.mode !== 'process' || !last || this.dead) return false;
    if (!last.run.fitForReuse || this.runs >= (this.options.maxRuns ?? Infinity)) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Cleaned>((resolve) => (timer = setTimeout(() => resolve({ problem: `cleanup took longer than ${CLEANUP_MS} ms` }), CLEANUP_MS)));
    const cleaned = await Promise.race([last.cleaned, late]).finally(() => clearTimeout(timer));
    const broken = this.channelBroken || !this.stdio()[3].writable;
    const survivors = cleaned.problem ?? (broken ? 'a run shut down or broke a shared descriptor' : undefined)
      ?? (this.agent && cleaned.next ? sandboxSurvivors(this.agent.pid, cleaned.next) : 'no fork server seen');
    if (survivors) {
      this.options.log.warn({ problem: survivors }, 'a process-mode sandbox is not clean after a run; replacing it');
      return false;
    }
    this.lastRun = undefined;
    return !this.dead;
  }

  retire(): void {
    if (this.dead) return;
    if (this.options.mode !== 'single') return this.quietKill();
    // Its agent exits once fd 3 closes (and a crashed one has already gone: still counted lost); one
    // that does not is killed after a grace period.
    this.stdio()[3].end();
    setTimeout(() => this.quietKill(), EXIT_GRACE_MS).unref();
  }

  /** The broker ends a worker it no longer needs: not a kill for a reason, and not a loss. */
  private quietKill(): void {
    if (this.dead) return;
    this.retired = true;
    killWorker(this.spawned);
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

  private stdio(): [Writable, Readable, Readable, Writable, Readable, Writable | null, Writable, Readable] {
    return this.spawned.child.stdio as unknown as [Writable, Readable, Readable, Writable, Readable, Writable | null, Writable, Readable];
  }

  /** Process mode: the fork server's own channel, fd 7 (fd 6 is written per run). */
  private listenToServer(): void {
    const stdio = this.stdio();
    const lines = new LineSplitter(4096, (line) => this.onServer(line), () => this.protocolFault('a fork server line longer than 4096 bytes'));
    stdio[7].on('data', (chunk: Buffer) => lines.push(chunk));
  }

  private onServer(line: string): void {
    const parsed = parseLine(line, serverMessageSchema, 'fork server');
    if ('problem' in parsed) return this.protocolFault(parsed.problem);
    const message = parsed.value;
    const last = this.lastRun;
    // Runs are numbered 1, 2, … per sandbox on both sides: anything else is not the run the broker is on.
    if (message.type === 'ended') {
      const running = this.task instanceof ActiveRun && message.run === this.runs ? this.task : undefined;
      if (!running?.onProcessEnded(message)) this.protocolFault(`an ended message for run ${message.run}, which is not running`);
    } else if (last && message.run === this.runs) last.onCleaned(message);
    else this.protocolFault(`a cleaned message for run ${message.run}, which is not the last`);
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
    const parsed = parseLine(line, agentMessageSchema, 'control');
    if ('problem' in parsed) return this.protocolFault(parsed.problem);
    const value = parsed.value;
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

/** One line from a sandbox: JSON, then the schema; what is wrong in words for the protocol fault. */
function parseLine<T>(line: string, schema: z.ZodType<T>, channel: 'control' | 'fork server'): { value: T } | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { problem: `a ${channel} line that is not JSON` };
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? { value: parsed.data } : { problem: `an invalid ${channel} message (${parsed.error.issues[0]?.message ?? 'schema'})` };
}
