import type { Logger } from 'pino';
import { BrokerError, ErrorCode } from '../errors.js';
import type { ExecuteResult, Status } from '../protocol/execute.js';
import type { RunHooks, RunJob, WorkerHandle } from '../worker/worker.js';
import { initialBrake, isUnavailable, onStarted, onStartFailed, respawnDelayMs, type BrakeState } from './respawn.js';
import { transition, type SlotEvent, type SlotState } from './state.js';

export interface PoolOptions {
  readonly size: number;
  readonly maxQueue: number;
  readonly makeWorker: () => WorkerHandle;
  readonly log: Logger;
  /** Shared when a broker has more than one pool (one per isolation mode), so broker/status has one set. */
  readonly counters?: PoolCounters;
}

interface Slot {
  readonly id: number;
  state: SlotState;
  worker: WorkerHandle | undefined;
}

interface Pending {
  readonly job: RunJob;
  readonly hooks: RunHooks;
  readonly resolve: (result: ExecuteResult) => void;
  readonly reject: (error: unknown) => void;
  readonly detach: () => void;
}

export interface PoolCounters {
  executions: number;
  byStatus: Partial<Record<Status, number>>;
  respawns: number;
  startFailures: number;
  queueHighWater: number;
}

/**
 * The warm pool of single-use sandboxes: the one orchestrator. Every event (request, ready, exit,
 * start failure, timer) changes slot state through `transition` and then runs one reconcile step,
 * which hands idle workers to queued jobs and refills dead slots behind the respawn brake.
 */
export class Pool {
  private readonly slots: Slot[];
  private readonly queue: Pending[] = [];
  private brake: BrakeState = initialBrake;
  private backoff: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private spawnedOnce = new Set<number>();
  /** Workers done with their last run and on their way out; close() waits for them too. */
  private readonly retiring = new Set<WorkerHandle>();
  readonly counters: PoolCounters;

  constructor(private readonly options: PoolOptions) {
    this.counters = options.counters ?? newPoolCounters();
    this.slots = Array.from({ length: options.size }, (_, id) => ({ id, state: 'dead' as SlotState, worker: undefined }));
  }

  start(): void {
    this.reconcile();
  }

  /** Runs a job on the next idle worker. Settles exactly once: a result, or a BrokerError when nothing ran. */
  execute(job: RunJob, hooks: RunHooks): Promise<ExecuteResult> {
    if (this.closed) return Promise.reject(new BrokerError(ErrorCode.ShuttingDown, 'the broker is shutting down'));
    if (isUnavailable(this.brake)) return Promise.reject(this.unavailableError());
    if (this.queue.length >= this.options.maxQueue && !this.idleSlot()) {
      return Promise.reject(new BrokerError(ErrorCode.Busy, `the execute queue is full (${this.options.maxQueue} waiting); retry later`, { queued: this.queue.length }));
    }
    if (hooks.signal?.aborted) return Promise.resolve(this.count(notRun('cancelled', 'the client cancelled the run before it started')));
    return new Promise<ExecuteResult>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.queue.indexOf(pending);
        if (index < 0) return;
        this.queue.splice(index, 1);
        resolve(this.count(notRun('cancelled', 'the client cancelled the run while it was queued')));
      };
      const pending: Pending = { job, hooks, resolve, reject, detach: () => hooks.signal?.removeEventListener('abort', onAbort) };
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(pending);
      this.counters.queueHighWater = Math.max(this.counters.queueHighWater, this.queue.length);
      this.reconcile();
    });
  }

  status(): { idle: number; busy: number; starting: number; queued: number } {
    const count = (state: SlotState): number => this.slots.filter((s) => s.state === state).length;
    return { idle: count('idle'), busy: count('leased') + count('stopping'), starting: count('starting'), queued: this.queue.length };
  }

  /** Why sandboxes cannot start, when the brake has given up for now. */
  unavailableReason(): string | undefined {
    return isUnavailable(this.brake) ? this.brake.lastError : undefined;
  }

  /** Stops everything: queued jobs are answered "cancelled", running ones are killed; resolves when every worker is gone. */
  close(): Promise<void> {
    this.closing ??= this.stopAll();
    return this.closing;
  }

  private async stopAll(): Promise<void> {
    this.closed = true;
    clearTimeout(this.backoff);
    for (const pending of this.queue.splice(0)) {
      pending.detach();
      pending.resolve(this.count(notRun('cancelled', 'the broker shut down before the run started')));
    }
    const exits: Promise<unknown>[] = [];
    for (const worker of this.retiring) {
      exits.push(worker.exited);
      worker.kill('shutdown'); // at once: a retired single-use agent would otherwise get 2 s to exit
    }
    for (const slot of this.slots) {
      if (!slot.worker) continue;
      exits.push(slot.worker.exited);
      if (slot.state !== 'dead') this.move(slot, 'stop');
      slot.worker.kill('shutdown');
    }
    await Promise.all(exits);
  }

  private reconcile(): void {
    for (let slot = this.idleSlot(); slot && this.queue.length > 0; slot = this.idleSlot()) this.lease(slot, this.queue.shift()!);
    if (this.closed || this.backoff) return;
    const dead = this.slots.filter((s) => s.state === 'dead');
    if (dead.length === 0) return;
    const delay = respawnDelayMs(this.brake);
    if (delay === 0) {
      for (const slot of dead) this.spawn(slot);
      return;
    }
    // Braking: one attempt at a time, after the delay, so a broken host is not hammered.
    this.backoff = setTimeout(() => {
      this.backoff = undefined;
      const slot = this.slots.find((s) => s.state === 'dead');
      if (slot && !this.closed) this.spawn(slot);
    }, delay);
    this.backoff.unref();
  }

  private idleSlot(): Slot | undefined {
    return this.slots.find((s) => s.state === 'idle');
  }

  private spawn(slot: Slot): void {
    this.move(slot, 'spawn');
    if (this.spawnedOnce.has(slot.id)) this.counters.respawns += 1;
    this.spawnedOnce.add(slot.id);
    let worker: WorkerHandle;
    try {
      worker = this.options.makeWorker();
    } catch (error) {
      this.startFailed(slot, undefined, error instanceof Error ? error.message : String(error));
      return;
    }
    slot.worker = worker;
    worker.ready.then(
      () => {
        if (slot.worker !== worker || slot.state !== 'starting') return;
        this.brake = onStarted();
        this.move(slot, 'ready');
        this.reconcile();
      },
      (error: unknown) => this.startFailed(slot, worker, error instanceof Error ? error.message : String(error)),
    );
    void worker.exited.then(() => {
      if (slot.worker !== worker || slot.state === 'dead' || slot.state === 'starting') return;
      this.move(slot, 'exited');
      slot.worker = undefined;
      // Refill after the run's answer is written (vscode-jsonrpc writes from setImmediate): Node's
      // spawn() blocks the event loop for milliseconds.
      setTimeout(() => this.reconcile(), 0).unref();
    });
  }

  private startFailed(slot: Slot, worker: WorkerHandle | undefined, reason: string): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    this.move(slot, 'startFailed');
    if (this.closed) return; // killed by close() while starting: not the host's fault
    this.brake = onStartFailed(this.brake, reason);
    this.counters.startFailures += 1;
    this.options.log.error({ reason, failures: this.brake.failures }, 'sandbox failed to start');
    if (isUnavailable(this.brake)) {
      for (const pending of this.queue.splice(0)) {
        pending.detach();
        pending.reject(this.unavailableError());
      }
    }
    this.reconcile();
  }

  private lease(slot: Slot, pending: Pending): void {
    this.move(slot, 'lease');
    pending.detach();
    const worker = slot.worker!;
    let result: Promise<ExecuteResult>;
    try {
      result = worker.run(pending.job, pending.hooks);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then((r) => pending.resolve(this.count(r)), pending.reject).finally(() => this.afterRun(slot, worker));
  }

  /**
   * A reusable worker (process mode) goes back to idle once it says it is clean; any other is retired
   * and its slot refilled at once, without waiting for its sandbox to be torn down.
   */
  private afterRun(slot: Slot, worker: WorkerHandle): void {
    if (slot.worker !== worker || slot.state !== 'leased') return; // it exited meanwhile: the exit handler refills
    void (worker.reusable?.() ?? Promise.resolve(false)).catch(() => false).then((reusable) => {
      if (slot.worker !== worker || slot.state !== 'leased') return;
      if (reusable && !this.closed) {
        this.move(slot, 'release');
        this.reconcile();
        return;
      }
      this.retiring.add(worker);
      void worker.exited.then(() => this.retiring.delete(worker));
      worker.retire?.();
      slot.worker = undefined;
      this.move(slot, 'exited');
      // Refill after the run's answer is written (vscode-jsonrpc writes from setImmediate): Node's
      // spawn() blocks the event loop for milliseconds.
      setTimeout(() => this.reconcile(), 0).unref();
    });
  }

  private move(slot: Slot, event: SlotEvent): void {
    slot.state = transition(slot.state, event);
  }

  /** Counts an answered execute (session runs are counted here too, so broker/status has one set of counters). */
  count(result: ExecuteResult): ExecuteResult {
    this.counters.executions += 1;
    this.counters.byStatus[result.status] = (this.counters.byStatus[result.status] ?? 0) + 1;
    return result;
  }

  private unavailableError(): BrokerError {
    const reason = this.brake.lastError ?? 'unknown';
    return new BrokerError(ErrorCode.SandboxUnavailable, `sandboxes cannot start on this host: ${reason} (run "pycell doctor")`, { reason });
  }
}

export function newPoolCounters(): PoolCounters {
  return { executions: 0, byStatus: {}, respawns: 0, startFailures: 0, queueHighWater: 0 };
}

/** Two pools' status() as one. */
export function sumCounts<T extends Record<string, number>>(a: T, b: T): T {
  return Object.fromEntries(Object.entries(a).map(([key, value]) => [key, value + (b[key] ?? 0)])) as T;
}

/** The result of a run that never started: every field a run has, nothing produced. */
export function notRun(status: Status, message: string): ExecuteResult {
  return {
    status, message, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false,
    exitCode: null, signal: null, usage: { wallMs: 0, cpuMs: 0, peakMemoryBytes: 0 },
  };
}
