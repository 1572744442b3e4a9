import { BrokerError, ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { notRun } from '../pool/pool.js';
import type { ExecuteResult } from '../protocol/execute.js';
import type { Limits } from '../protocol/limits.js';
import type { CompleteResult } from '../protocol/session.js';
import type { KillReason } from '../worker/outcome.js';
import type { RunHooks, RunJob, SandboxWorker } from '../worker/worker.js';

export interface SessionDeps {
  readonly makeWorker: () => SandboxWorker;
  readonly log: Logger;
  readonly maxQueue: number;
  readonly completionTimeoutMs: number;
}

type Task =
  | { readonly kind: 'execute'; readonly job: Omit<RunJob, 'cell'>; readonly hooks: RunHooks; resolve(r: ExecuteResult): void; reject(e: unknown): void; detach(): void }
  | { readonly kind: 'complete'; readonly code: string; readonly cursor: number; resolve(r: CompleteResult): void; reject(e: unknown): void };

/**
 * One session: a dedicated sandboxed worker whose namespace persists, and a FIFO so its executes (and
 * completions) run one at a time in arrival order. The session is never left dead: a worker lost during
 * or between runs is replaced by a fresh one, and the next result says the state was lost.
 */
export class Session {
  private worker: SandboxWorker | undefined;
  private readonly queue: Task[] = [];
  private running = false;
  private closed = false;
  /** Executes run in the current namespace (Jupyter's In [n]); restarts with a fresh worker. */
  private count = 0;
  /** Why the namespace was lost since the last result, to be said in the next one. */
  private lost: string | undefined;
  lastActive = Date.now();

  constructor(readonly id: string, readonly limits: Limits, private readonly deps: SessionDeps) {}

  get busy(): boolean {
    return this.running || this.queue.length > 0;
  }

  /** Starts the first worker; rejects with SandboxUnavailable if it cannot start. */
  async start(): Promise<void> {
    await this.readyWorker();
  }

  execute(job: Omit<RunJob, 'cell'>, hooks: RunHooks): Promise<ExecuteResult> {
    if (this.queue.length >= this.deps.maxQueue) {
      return Promise.reject(new BrokerError(ErrorCode.Busy, `session ${this.id} has ${this.queue.length} executes waiting; retry later`, { queued: this.queue.length }));
    }
    if (hooks.signal?.aborted) return Promise.resolve(this.tag(notRun('cancelled', 'the client cancelled the run before it started')));
    return new Promise<ExecuteResult>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.queue.indexOf(task);
        if (index < 0) return;
        this.queue.splice(index, 1);
        resolve(this.tag(notRun('cancelled', 'the client cancelled the run while it was queued behind another in its session')));
      };
      const task: Task = { kind: 'execute', job, hooks, resolve, reject, detach: () => hooks.signal?.removeEventListener('abort', onAbort) };
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(task);
      void this.pump();
    });
  }

  complete(code: string, cursor: number): Promise<CompleteResult> {
    return new Promise<CompleteResult>((resolve, reject) => {
      this.queue.push({ kind: 'complete', code, cursor, resolve, reject });
      void this.pump();
    });
  }

  /** A fresh worker with empty state; the running execute ends "cancelled", queued ones are not run. */
  async restart(): Promise<void> {
    this.cancelQueued('the session was restarted before the run started');
    const old = this.worker;
    this.worker = undefined;
    this.lost = undefined;
    if (old) {
      old.kill('restart');
      await old.exited;
    }
    await this.readyWorker();
  }

  /** Ends the session: queued runs are answered "cancelled", the running one is killed. */
  async close(reason: KillReason = 'closed'): Promise<void> {
    this.closed = true;
    this.cancelQueued(reason === 'shutdown' ? 'the broker shut down before the run started' : 'the session was closed before the run started');
    const worker = this.worker;
    this.worker = undefined;
    if (worker) {
      worker.kill(reason);
      await worker.exited;
    }
  }

  private async pump(): Promise<void> {
    if (this.running || this.closed) return;
    const task = this.queue.shift();
    if (!task) return;
    this.running = true;
    try {
      if (task.kind === 'execute') task.detach();
      const worker = await this.readyWorker();
      if (this.closed || this.worker !== worker) {
        // restarted or closed while this task waited for the worker to start: it never ran
        const why = this.closed ? 'the session was closed before the run started' : 'the session was restarted before the run started';
        if (task.kind === 'execute') task.resolve(this.tag(notRun('cancelled', why)));
        else task.resolve({ matches: [], cursorStart: task.cursor, cursorEnd: task.cursor });
      } else if (task.kind === 'execute') task.resolve(await this.runOn(worker, task.job, task.hooks));
      else task.resolve(await this.completeOn(worker, task.code, task.cursor));
    } catch (error) {
      task.reject(error);
    } finally {
      this.running = false;
      this.lastActive = Date.now();
      void this.pump();
    }
  }

  private async runOn(worker: SandboxWorker, job: Omit<RunJob, 'cell'>, hooks: RunHooks): Promise<ExecuteResult> {
    const lostBefore = this.lost;
    this.lost = undefined;
    const cell = ++this.count;
    const result = await worker.run({ ...job, cell }, hooks);
    const diedNow = !worker.alive;
    if (diedNow && this.worker === worker && !this.closed) this.replace(); // warm for the next execute
    const notes = [
      ...(result.message ? [result.message] : []),
      ...(lostBefore ? [`before this run the session's worker was lost (${lostBefore}); the run started on a fresh worker with empty state`] : []),
      ...(diedNow && !this.closed ? ['the session continues on a fresh worker: its state (variables, imports) is lost'] : []),
    ];
    return this.tag({
      ...result, ...(notes.length ? { message: notes.join('; ') } : {}), executionCount: cell,
      ...(diedNow || lostBefore ? { sessionRestarted: true } : {}),
    });
  }

  private async completeOn(worker: SandboxWorker, code: string, cursor: number): Promise<CompleteResult> {
    const answer = await worker.complete(code, cursor, this.deps.completionTimeoutMs);
    if (!worker.alive && this.worker === worker && !this.closed) {
      this.lost ??= 'a completion did not yield to its interrupt and the worker was killed';
      this.replace();
    }
    const length = [...code].length;
    if (!answer || answer.cursorStart > answer.cursorEnd || answer.cursorEnd > length) return { matches: [], cursorStart: cursor, cursorEnd: cursor };
    return { matches: answer.matches, cursorStart: answer.cursorStart, cursorEnd: answer.cursorEnd };
  }

  /** The live worker, replacing a lost one; a start failure is the caller's SandboxUnavailable error. */
  private async readyWorker(): Promise<SandboxWorker> {
    if (this.closed) throw new BrokerError(ErrorCode.UnknownSession, `session ${this.id} is closed`, { reason: 'closed' });
    const worker = this.worker?.alive ? this.worker : this.replace();
    try {
      await worker.ready;
    } catch (error) {
      if (this.worker !== worker || this.closed) return worker; // replaced or closed meanwhile: the caller sees it
      this.worker = undefined;
      const reason = error instanceof Error ? error.message : String(error);
      throw new BrokerError(ErrorCode.SandboxUnavailable, `session ${this.id}: its sandbox could not start: ${reason}`, { reason });
    }
    return worker;
  }

  private replace(): SandboxWorker {
    const worker = this.deps.makeWorker();
    this.worker = worker;
    this.count = 0;
    void worker.exited.then((exit) => {
      if (this.worker !== worker || this.closed || this.running) return; // a run's own result reports its loss
      this.worker = undefined;
      const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
      this.lost ??= `it ${how} between runs`;
      this.deps.log.warn({ session: this.id, exit }, 'session worker lost between runs');
    });
    return worker;
  }

  private cancelQueued(message: string): void {
    for (const task of this.queue.splice(0)) {
      if (task.kind === 'execute') {
        task.detach();
        task.resolve(this.tag(notRun('cancelled', message)));
      } else task.resolve({ matches: [], cursorStart: task.cursor, cursorEnd: task.cursor });
    }
  }

  private tag(result: ExecuteResult): ExecuteResult {
    return { ...result, session: this.id };
  }
}
