import type { Readable, Writable } from 'node:stream';
import type { Watch, WatchRecord } from '../monitor/monitor.js';
import type { AgentExecute, AgentInput, AgentInputReply, AgentMessage, AgentResult, ServerMessage } from '../protocol/agent.js';
import type { ExecuteResult, MimeBundle } from '../protocol/execute.js';
import type { Limits } from '../protocol/limits.js';
import { decideOutcome, type KillReason } from './outcome.js';
import { OutputCollector, type StreamName } from './output.js';
import { checkFilesOut, type ReturnFiles } from '../filesout.js';
import { toCgroupLimits } from '../sandbox/cgroups.js';
import type { SandboxCgroup } from '../sandbox/cgroups.js';
import type { Spawned } from './spawn.js';
import type { ExitInfo, WorkerOptions } from './worker.js';

/** One run handed to a worker. */
export interface RunJob {
  readonly code: string;
  readonly stdin: string;
  readonly files: readonly { readonly path: string; readonly content: string }[];
  readonly limits: Limits;
  readonly rlimits: AgentExecute['rlimits'];
  readonly reprLimit: number;
  /** A session's execution count: the code is compiled as "<cell-N>" so later tracebacks find its lines. */
  readonly cell?: number;
  /** Collect the files the run created or changed, within these bounds. */
  readonly returnFiles?: ReturnFiles | undefined;
}

export interface RunHooks {
  readonly onOutput?: (stream: StreamName, text: string) => void;
  readonly onDisplay?: (data: MimeBundle) => void;
  /** Present when the client answers input() itself; the answer, or null for end of input. */
  readonly onInput?: (request: { prompt: string; password: boolean }, signal: AbortSignal) => Promise<string | null>;
  readonly signal?: AbortSignal;
  /** The limits the run was given, once they are resolved (for the execution log). */
  readonly onStart?: (limits: Limits) => void;
}

/**
 * single: the run ends when its sandbox's process does. session: with its result; the agent lives on.
 * process: when the fork server reports the run's process ended (and every other process of the run gone).
 */
export type RunKind = 'single' | 'session' | 'process';

/** What a run needs of its worker. */
export interface RunContext {
  readonly spawned: Spawned;
  readonly options: WorkerOptions;
  readonly known: Map<number, number>;
  /** The worker's processes are gone and its pipes closed. */
  readonly exited: Promise<ExitInfo>;
  /** The worker's process (bubblewrap) exited; its namespaces may still be tearing down. */
  readonly processExit: Promise<ExitInfo>;
  readonly kind: RunKind;
  kill(reason: KillReason): void;
  interrupt(): boolean;
  isDead(): boolean;
  /** The sandbox's cgroup: limits set per run, and the kernel's out-of-memory kill count. */
  readonly cgroup?: SandboxCgroup | undefined;
  /** Without a cgroup: the sandbox's tmpfs and memfd bytes, which no RSS shows. */
  readonly hiddenMemory?: ((pids: Iterable<number>) => number) | undefined;
}

let nextRunId = 1;
const RUN_ENDED = 'the run ended';

/** The state of one run: its timers, its watch, its output, and the one result it settles with. */
export class ActiveRun {
  readonly output: OutputCollector;
  readonly id = nextRunId++;
  protocolProblem: string | undefined;
  private killReason: KillReason | undefined;
  private agentResult: AgentResult | undefined;
  private record: WatchRecord | undefined;
  private readonly watch: Watch;
  private readonly ended = new AbortController();
  private startedAt = 0;
  private grace: NodeJS.Timeout | undefined;
  private onResult: (() => void) | undefined;
  private processEnded: Extract<ServerMessage, { type: 'ended' }> | undefined;
  private outcome: ExecuteResult['status'] | undefined;
  private forkedExit: ExitInfo | undefined;
  /** Something was written on fd 3 after the execute (an input reply): it may not all have been read. */
  private repliedToInput = false;

  constructor(private readonly job: RunJob, private readonly hooks: RunHooks, private readonly context: RunContext) {
    this.output = new OutputCollector(job.limits.maxOutputBytes, (stream, text) => hooks.onOutput?.(stream, text), () => this.stop('output_limit'));
    this.watch = {
      rootPid: context.spawned.child.pid ?? -1, limits: job.limits, onExceed: (reason) => context.kill(reason),
      ...(context.cgroup ? { oomKilled: () => context.cgroup!.oomKillsSinceMark() > 0, memoryHeldByKernel: true } : {}),
      ...(context.hiddenMemory ? { hiddenMemory: context.hiddenMemory } : {}),
    };
  }

  pushOutput(stream: StreamName, chunk: Buffer): void {
    this.output.push(stream, chunk);
  }

  get reported(): boolean {
    return this.agentResult !== undefined;
  }

  /** The first reason wins: a timeout that leads to an output cut stays a timeout. */
  recordKill(reason: KillReason): void {
    this.killReason ??= reason;
  }

  onAgentMessage(message: Exclude<AgentMessage, { type: 'ready' }>): void {
    if (!('id' in message) || message.id !== this.id) return; // not this run's: ignore rather than trust
    if (message.type === 'display') this.hooks.onDisplay?.(message.data);
    else if (message.type === 'input') void this.answerInput(message);
    else if (message.type === 'result' && !this.agentResult) {
      this.agentResult = message;
      if (this.context.kind === 'session') return this.onResult?.();
      if (this.context.kind === 'process') return; // the run ends when its process has, and all it started
      // Measure while the processes are still there: a single-use agent waits for fd 3 to close before it exits.
      if (this.record) this.context.options.monitor.finalSample(this.record);
      this.stdio()[3].end();
    }
  }

  /** Process mode: the fork server's word that the run's process ended; false when it said so before. */
  onProcessEnded(message: Extract<ServerMessage, { type: 'ended' }>): boolean {
    if (this.processEnded) return false;
    this.processEnded = message;
    this.onResult?.();
    return true;
  }

  /**
   * Process mode: whether the sandbox may serve another run. Only a run that ended as expected leaves
   * nothing behind: a limit or cancel kills the sandbox anyway; a crash, a protocol problem or an
   * interactive run (an input reply could still be on its way into fd 3) retire it.
   */
  get fitForReuse(): boolean {
    return (this.outcome === 'ok' || this.outcome === 'error') && !this.killReason && !this.protocolProblem && !this.hooks.onInput && !this.repliedToInput
      && this.processEnded !== undefined && (this.stdio()[3].writableLength ?? 0) === 0;
  }

  async start(): Promise<ExecuteResult> {
    const { options, kind } = this.context;
    const persistent = kind !== 'single';
    this.startedAt = performance.now();
    this.limitCgroup();
    this.record = options.monitor.watch(this.watch, this.context.known);
    const timer = setTimeout(() => this.stop('timeout'), this.job.limits.timeoutMs);
    const onAbort = (): void => this.stop('cancelled');
    if (this.hooks.signal?.aborted) onAbort();
    this.hooks.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const message: AgentExecute = {
        type: 'execute', id: this.id, code: this.job.code, files: [...this.job.files], rlimits: this.job.rlimits, reprLimit: this.job.reprLimit,
        ...(persistent ? { stdin: this.job.stdin } : {}),
        ...(this.job.cell === undefined ? {} : { cell: this.job.cell }),
        ...(this.hooks.onInput ? { interactive: true } : {}),
        ...(this.job.returnFiles ? { returnFiles: this.job.returnFiles } : {}),
      };
      this.stdio()[3].write(`${JSON.stringify(message)}\n`);
      if (!persistent) this.stdio()[0].end(this.job.stdin);
      const exit = await (persistent ? this.settledOrExited() : this.exitedSoon());
      return this.finish(exit);
    } finally {
      clearTimeout(timer);
      clearTimeout(this.grace);
      this.ended.abort(RUN_ENDED); // a reason of our own: abort() alone builds a DOMException with a stack (~40 µs a run, profiled)
      this.hooks.signal?.removeEventListener('abort', onAbort);
      options.monitor.unwatch(this.watch);
      // What the run saw, minus what it saw die: the sandbox's processes for the next run.
      this.context.known.clear();
      for (const [pid, start] of this.record.known) this.context.known.set(pid, start);
    }
  }

  /**
   * Ends the run for `reason`. A session's run is interrupted first (KeyboardInterrupt keeps the namespace)
   * and killed only if it does not yield within the grace period; a single-use run is killed at once.
   */
  private stop(reason: KillReason): void {
    if (this.context.kind !== 'session' || this.agentResult) return this.context.kill(reason);
    if (this.killReason) return;
    this.recordKill(reason);
    if (!this.context.interrupt()) return this.context.kill(reason);
    this.grace = setTimeout(() => this.context.kill(reason), this.context.options.interruptGraceMs);
  }

  /**
   * The whole sandbox's memory (tmpfs, /dev/shm and memfds included) and tasks, for this run. The
   * rlimits and the monitor stay in force behind it; a cgroup that refuses is logged, not fatal.
   */
  private limitCgroup(): void {
    const { cgroup } = this.context;
    if (!cgroup) return;
    try {
      cgroup.limit(toCgroupLimits(this.job.limits, this.context.kind === 'process' ? 3 : 2));
    } catch (error) {
      this.context.options.log.warn({ err: error }, 'could not set the sandbox cgroup\'s limits');
    }
    // A single-use sandbox's peak since its start is its one run's (as VmHWM is); a reused one's is reset.
    cgroup.mark(this.context.kind !== 'single');
  }

  /**
   * A session run settles on its result (a process-mode run on the fork server's `ended`), once the output
   * written before it has been read; or on exit.
   */
  private settledOrExited(): Promise<ExitInfo | undefined> {
    const result = new Promise<undefined>((resolve) => {
      // The output was written before the result (or before the run's processes were gone), so those bytes
      // are already in the pipes: one turn of the event loop reads them (a pipe holds at most 64 KiB; more
      // would have blocked the writer).
      this.onResult = () => setImmediate(() => resolve(undefined));
    });
    return Promise.race([result, this.context.exited]);
  }

  /**
   * A single-use run settles when bubblewrap exits, once the output already in the pipes is read: not
   * when the last pipe closes, which waits for the kernel to tear the namespaces down (2–8 ms measured).
   */
  private exitedSoon(): Promise<ExitInfo> {
    return this.context.processExit.then((exit) => new Promise((resolve) => setImmediate(() => resolve(exit))));
  }

  private async answerInput(message: AgentInput): Promise<void> {
    const onInput = this.hooks.onInput;
    let value: string | null = null;
    if (onInput) {
      try {
        value = await onInput({ prompt: message.prompt, password: message.password }, this.ended.signal);
      } catch {
        value = null; // the client failed or the run ended: input() sees end of input
      }
    }
    if (this.ended.signal.aborted || this.context.isDead()) return;
    const reply: AgentInputReply = { type: 'input_reply', id: this.id, seq: message.seq, value };
    this.repliedToInput = true;
    this.stdio()[3].write(`${JSON.stringify(reply)}\n`);
  }

  private finish(exit: ExitInfo | undefined): ExecuteResult {
    const { monitor } = this.context.options;
    const wallMs = performance.now() - this.startedAt;
    const usage = this.record ? monitor.finalSample(this.record, this.context.kind === 'single') : { cpuMs: 0, peakMemoryBytes: 0 };
    // Process mode: how the run's process ended, from the fork server, unless the sandbox itself ended.
    if (exit === undefined && this.processEnded) exit = this.forkedExit = { exitCode: this.processEnded.exitCode, signal: this.processEnded.signal };
    // The kernel's OOM kill is the broker's record too; a sandbox that lost a process to it is not kept.
    if (!this.killReason && (this.context.cgroup?.oomKillsSinceMark() ?? 0) > 0) {
      this.killReason = 'memory_limit';
      if (exit === undefined) this.context.kill('memory_limit');
    }
    // Output past the budget read after the process had already exited still ends the run as output_limit.
    if (!this.killReason && (this.output.truncated.stdout || this.output.truncated.stderr)) this.killReason = 'output_limit';
    const alive = exit === undefined;
    const { status, message } = decideOutcome({
      killReason: this.killReason, agentResult: this.agentResult, exitCode: exit?.exitCode ?? 0, signal: exit?.signal ?? null, protocolProblem: this.protocolProblem, alive,
      forked: exit !== undefined && exit === this.forkedExit,
    });
    this.outcome = status;
    const { stdout, stderr } = this.output.finish();
    // The agent's report only describes its own run; it is shown for runs it finished (interrupted ones too).
    const trusted = status === 'ok' || status === 'error' || (alive && this.agentResult) ? this.agentResult : undefined;
    return {
      status,
      ...(message ? { message } : {}),
      stdout,
      stderr,
      stdoutTruncated: this.output.truncated.stdout,
      stderrTruncated: this.output.truncated.stderr,
      ...(trusted?.status === 'ok' && trusted.value ? { value: trusted.value } : {}),
      ...(trusted?.status === 'error' ? { error: trusted.error } : {}),
      ...(trusted?.files && this.job.returnFiles ? { files: checkFilesOut(trusted.files, this.job.returnFiles) } : {}),
      ...(trusted?.audit ? { audit: trusted.audit } : {}),
      // A sandbox the broker killed reports the broker's SIGKILL, not bubblewrap's relay of it (137).
      exitCode: alive ? null : this.killReason ? null : exit?.exitCode ?? null,
      signal: alive ? null : this.killReason ? 'SIGKILL' : exit?.signal ?? null,
      // The cgroup's peak includes what no RSS shows (tmpfs, memfds), and bursts between two samples.
      // Process mode: the run's process's own peak, which the broker's samples of a short run may all miss.
      usage: { wallMs: round(wallMs), cpuMs: round(usage.cpuMs), peakMemoryBytes: Math.max(usage.peakMemoryBytes, this.context.cgroup?.peakBytes() ?? 0, this.processEnded?.maxRssBytes ?? 0) },
    };
  }

  private stdio(): [Writable, Readable, Readable, Writable, Readable] {
    return this.context.spawned.child.stdio as unknown as [Writable, Readable, Readable, Writable, Readable];
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
