import assert from 'node:assert/strict';
import { BrokerError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { Pool } from '../../src/pool/pool.js';
import type { ExecuteResult, Status } from '../../src/protocol/execute.js';
import { defaultLimits } from '../../src/protocol/limits.js';
import type { KillReason } from '../../src/worker/outcome.js';
import type { ExitInfo, RunHooks, RunJob, WorkerHandle } from '../../src/worker/worker.js';

/**
 * A worker whose start, run and exit the test decides. Like the real single-use one it runs once and is
 * then retired; with `reuse` set it says, like a process-mode one, whether it can run again.
 */
class FakeWorker implements WorkerHandle {
  readonly ready: Promise<void>;
  readonly exited: Promise<ExitInfo>;
  readonly runs: { job: RunJob; hooks: RunHooks }[] = [];
  readonly kills: KillReason[] = [];
  exitOnKill = true;
  retired = false;
  reuse: Promise<boolean> = Promise.resolve(false);
  private readySettled = false;
  private resolveReady!: () => void;
  private rejectReady!: (error: Error) => void;
  private resolveExit!: (exit: ExitInfo) => void;
  private finishRun: ((result: ExecuteResult) => void) | undefined;

  constructor() {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.exited = new Promise<ExitInfo>((resolve) => (this.resolveExit = resolve));
  }

  becomeReady(): void {
    this.readySettled = true;
    this.resolveReady();
  }

  /** bwrap dies before the agent says ready: ready rejects with the real reason, the process is gone. */
  failStart(reason: string): void {
    this.readySettled = true;
    this.rejectReady(new Error(reason));
    this.resolveExit({ exitCode: 1, signal: null });
  }

  exit(exit: ExitInfo = { exitCode: 0, signal: null }): void {
    if (!this.readySettled) this.failStart('exited before ready');
    this.resolveExit(exit);
  }

  run(job: RunJob, hooks: RunHooks): Promise<ExecuteResult> {
    this.runs.push({ job, hooks });
    return new Promise<ExecuteResult>((resolve) => (this.finishRun = resolve));
  }

  reusable(): Promise<boolean> {
    return this.reuse;
  }

  retire(): void {
    this.retired = true;
  }

  /** The run reports its result; the process has not exited yet. */
  report(r: ExecuteResult): void {
    this.finishRun!(r);
  }

  kill(reason: KillReason): void {
    this.kills.push(reason);
    this.finishRun?.(result('cancelled'));
    if (!this.exitOnKill) return;
    if (!this.readySettled) {
      this.readySettled = true;
      this.rejectReady(new Error('killed'));
    }
    this.resolveExit({ exitCode: null, signal: 'SIGKILL' });
  }
}

function result(status: Status, stdout = ''): ExecuteResult {
  return { status, stdout, stderr: '', stdoutTruncated: false, stderrTruncated: false, exitCode: status === 'ok' ? 0 : null, signal: null, usage: { wallMs: 1, cpuMs: 2, peakMemoryBytes: 3 } };
}

function job(code: string): RunJob {
  return { code, stdin: '', files: [], limits: defaultLimits, rlimits: { CPU: 11, AS: 1, NPROC: 32, FSIZE: 1, NOFILE: 256, CORE: 0, STACK: 1 }, reprLimit: 1000 };
}

function cancelledNotRun(message: string): ExecuteResult {
  return {
    status: 'cancelled', message, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false,
    exitCode: null, signal: null, usage: { wallMs: 0, cpuMs: 0, peakMemoryBytes: 0 },
  };
}

/** Lets every pending reaction run, the pool's deferred refill (a 0 ms timer, after the answer is written) included. */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setImmediate(resolve));
  }
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Watches a promise so a test can ask whether it settled yet. */
function track<T>(promise: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then((value) => Object.assign(state, { settled: true, value }), (error: unknown) => Object.assign(state, { settled: true, error }));
  return state;
}

function makePool(size: number, maxQueue = 16): { pool: Pool; workers: FakeWorker[] } {
  const workers: FakeWorker[] = [];
  const pool = new Pool({
    size,
    maxQueue,
    log: silentLogger,
    makeWorker: () => {
      const worker = new FakeWorker();
      workers.push(worker);
      return worker;
    },
  });
  return { pool, workers };
}

function isBrokerError(code: number, message: string, data: unknown): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof BrokerError, `not a BrokerError: ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    assert.deepEqual(error.data, data);
    return true;
  };
}

const REASON = 'bwrap: setting up uid map: Permission denied';
const unavailable = (reason: string) => isBrokerError(-32010, `sandboxes cannot start on this host: ${reason} (run "pycell doctor")`, { reason });

describe('pool/pool', function () {
  this.timeout(5000);
  const pools: Pool[] = [];
  const open = (size: number, maxQueue?: number): { pool: Pool; workers: FakeWorker[] } => {
    const made = makePool(size, maxQueue);
    pools.push(made.pool);
    return made;
  };
  afterEach(async () => {
    // A failed test may leave a pool half-closed: cleanup must not fail the tests that follow.
    for (const pool of pools.splice(0)) await Promise.race([pool.close().catch(() => undefined), sleep(200)]);
  });

  it('start() spawns one worker per slot; ready ones count as idle', async () => {
    const { pool, workers } = open(3);
    pool.start();
    assert.equal(workers.length, 3);
    assert.deepEqual(pool.status(), { idle: 0, busy: 0, starting: 3, queued: 0 });
    workers[0]!.becomeReady();
    workers[2]!.becomeReady();
    await flush();
    assert.deepEqual(pool.status(), { idle: 2, busy: 0, starting: 1, queued: 0 });
  });

  it('runs a job on an idle worker, hands it the hooks, and resolves with the worker\'s result, counted', async () => {
    const { pool, workers } = open(1);
    pool.start();
    workers[0]!.becomeReady();
    await flush();
    const hooks: RunHooks = { onOutput: () => undefined };
    const answer = pool.execute(job('print(1)'), hooks);
    await flush();
    assert.equal(workers[0]!.runs.length, 1);
    assert.equal(workers[0]!.runs[0]!.job.code, 'print(1)');
    assert.equal(workers[0]!.runs[0]!.hooks, hooks);
    assert.deepEqual(pool.status(), { idle: 0, busy: 1, starting: 0, queued: 0 });
    workers[0]!.report(result('ok', '1\n'));
    assert.deepEqual(await answer, result('ok', '1\n'));
    assert.equal(pool.counters.executions, 1);
    assert.deepEqual(pool.counters.byStatus, { ok: 1 });
  });

  it('queued requests run in arrival order, each on a fresh worker that never ran anything', async () => {
    const { pool, workers } = open(1);
    pool.start();
    const answers = ['a', 'b', 'c'].map((code) => track(pool.execute(job(code), {})));
    assert.deepEqual(pool.status(), { idle: 0, busy: 0, starting: 1, queued: 3 });
    for (let i = 0; i < 3; i++) {
      workers[i]!.becomeReady();
      await flush();
      workers[i]!.report(result('ok', String(i)));
      await flush();
      // Reported, not yet exited: the spent worker is retired and a fresh one started at once, without
      // waiting for the old sandbox's teardown; the next job waits for the fresh one.
      assert.equal(workers[i]!.retired, true);
      assert.equal(workers.length, i + 2);
      assert.equal(pool.status().queued, 2 - i);
      workers[i]!.exit();
      await flush();
    }
    assert.deepEqual(workers.map((w) => w.runs.map((r) => r.job.code)), [['a'], ['b'], ['c'], []]);
    assert.deepEqual(answers.map((a) => a.value?.stdout), ['0', '1', '2']);
    assert.equal(pool.counters.respawns, 3);
    assert.deepEqual(pool.counters.byStatus, { ok: 3 });
  });

  it('a worker that says it can run again (process mode) goes back to idle and serves the next job: no respawn', async () => {
    const { pool, workers } = open(1);
    pool.start();
    workers[0]!.reuse = Promise.resolve(true);
    workers[0]!.becomeReady();
    await flush();
    const first = track(pool.execute(job('a'), {}));
    await flush();
    workers[0]!.report(result('ok', 'A'));
    const second = track(pool.execute(job('b'), {}));
    await flush();
    assert.equal(first.value?.stdout, 'A');
    assert.deepEqual(workers[0]!.runs.map((r) => r.job.code), ['a', 'b']);
    workers[0]!.report(result('ok', 'B'));
    await flush();
    assert.equal(second.value?.stdout, 'B');
    assert.equal(workers.length, 1);
    assert.equal(workers[0]!.retired, false);
    assert.equal(pool.counters.respawns, 0);
    assert.deepEqual(pool.status(), { idle: 1, busy: 0, starting: 0, queued: 0 });
  });

  it('a reusable worker stays busy until it says it is clean; one that is not is retired and replaced', async () => {
    const { pool, workers } = open(1);
    pool.start();
    let clean!: (reusable: boolean) => void;
    workers[0]!.reuse = new Promise((resolve) => (clean = resolve));
    workers[0]!.becomeReady();
    await flush();
    const first = track(pool.execute(job('a'), {}));
    const second = track(pool.execute(job('b'), {}));
    await flush();
    workers[0]!.report(result('ok'));
    await flush();
    assert.equal(first.settled, true, 'the answer does not wait for the cleanup');
    assert.deepEqual(pool.status(), { idle: 0, busy: 1, starting: 0, queued: 1 });
    clean(false);
    await flush();
    assert.equal(workers[0]!.retired, true);
    assert.equal(workers.length, 2);
    workers[1]!.becomeReady();
    await flush();
    assert.deepEqual(workers[1]!.runs.map((r) => r.job.code), ['b']);
    assert.equal(second.settled, false);
  });

  it('close() kills retired workers that have not exited yet and waits for them', async () => {
    const { pool, workers } = open(1);
    pool.start();
    workers[0]!.becomeReady();
    await flush();
    const run = track(pool.execute(job('a'), {}));
    await flush();
    workers[0]!.report(result('ok'));
    await flush();
    assert.equal(run.settled, true);
    assert.equal(workers[0]!.retired, true);
    const closed = track(pool.close());
    await flush();
    assert.deepEqual(workers[0]!.kills, ['shutdown']);
    assert.equal(closed.settled, true);
  });

  it('an idle worker that dies is replaced at once, as a respawn and not a start failure', async () => {
    const { pool, workers } = open(1);
    pool.start();
    workers[0]!.becomeReady();
    await flush();
    workers[0]!.exit({ exitCode: 1, signal: null });
    await flush();
    assert.equal(workers.length, 2);
    assert.deepEqual(pool.status(), { idle: 0, busy: 0, starting: 1, queued: 0 });
    assert.equal(pool.counters.respawns, 1);
    assert.equal(pool.counters.startFailures, 0);
  });

  it('the queue is bounded: the request past maxQueue is refused with Busy (-32001) and never runs', async () => {
    const { pool, workers } = open(1, 2);
    pool.start();
    const first = track(pool.execute(job('a'), {}));
    const second = track(pool.execute(job('b'), {}));
    await assert.rejects(pool.execute(job('c'), {}), isBrokerError(-32001, 'the execute queue is full (2 waiting); retry later', { queued: 2 }));
    assert.equal(pool.status().queued, 2);
    workers[0]!.becomeReady();
    await flush();
    assert.deepEqual(workers[0]!.runs.map((r) => r.job.code), ['a']);
    assert.equal(first.settled || second.settled, false);
  });

  it('maxQueue 0 still refuses a request that would have to wait', async () => {
    const { pool } = open(1, 0);
    pool.start();
    await assert.rejects(pool.execute(job('a'), {}), isBrokerError(-32001, 'the execute queue is full (0 waiting); retry later', { queued: 0 }));
  });

  it('maxQueue 0 runs a request that finds an idle worker (nothing waits, so the queue bound does not apply)', async () => {
    const { pool, workers } = open(1, 0);
    pool.start();
    workers[0]!.becomeReady();
    await flush();
    const answer = track(pool.execute(job('a'), {}));
    await flush();
    assert.equal(answer.error, undefined, `refused: ${String((answer.error as Error | undefined)?.message)}`);
    assert.deepEqual(workers[0]!.runs.map((r) => r.job.code), ['a']);
  });

  it('cancelling a queued request answers "cancelled" at once and it never runs; the one behind it still does', async () => {
    const { pool, workers } = open(1);
    pool.start();
    const controller = new AbortController();
    const cancelled = pool.execute(job('a'), { signal: controller.signal });
    const behind = track(pool.execute(job('b'), {}));
    controller.abort();
    assert.deepEqual(await cancelled, cancelledNotRun('the client cancelled the run while it was queued'));
    assert.equal(pool.status().queued, 1);
    workers[0]!.becomeReady();
    await flush();
    assert.deepEqual(workers[0]!.runs.map((r) => r.job.code), ['b']);
    workers[0]!.report(result('ok'));
    await flush();
    assert.equal(behind.value?.status, 'ok');
    assert.deepEqual(pool.counters.byStatus, { cancelled: 1, ok: 1 });
    assert.equal(pool.counters.executions, 2);
  });

  it('a request already cancelled when it arrives is answered "cancelled" and never runs', async () => {
    const { pool, workers } = open(1);
    pool.start();
    workers[0]!.becomeReady();
    await flush();
    const controller = new AbortController();
    controller.abort();
    assert.deepEqual(await pool.execute(job('a'), { signal: controller.signal }), cancelledNotRun('the client cancelled the run before it started'));
    await flush();
    assert.equal(workers[0]!.runs.length, 0);
    assert.deepEqual(pool.status(), { idle: 1, busy: 0, starting: 0, queued: 0 });
  });

  it('a request already cancelled when it arrives is counted like every other answered execute', async () => {
    const { pool } = open(1);
    pool.start();
    const controller = new AbortController();
    controller.abort();
    await pool.execute(job('a'), { signal: controller.signal });
    assert.equal(pool.counters.executions, 1);
    assert.deepEqual(pool.counters.byStatus, { cancelled: 1 });
  });

  it('cancelling a running request is left to the worker (the signal reaches it); the pool answers once, with its result', async () => {
    const { pool, workers } = open(1);
    pool.start();
    workers[0]!.becomeReady();
    await flush();
    const controller = new AbortController();
    const answer = track(pool.execute(job('a'), { signal: controller.signal }));
    await flush();
    controller.abort();
    await flush();
    assert.equal(answer.settled, false);
    assert.equal(workers[0]!.runs[0]!.hooks.signal, controller.signal);
    workers[0]!.report(result('cancelled', 'partial'));
    await flush();
    assert.deepEqual(answer.value, result('cancelled', 'partial'));
  });

  it('start failures back off (no tight loop), and after three the queued and new requests fail with the reason (-32010)', async () => {
    const { pool, workers } = open(1);
    pool.start();
    const queued = track(pool.execute(job('a'), {}));
    workers[0]!.failStart('first failure');
    await flush();
    assert.equal(workers.length, 1, 'respawned at once after a start failure');
    assert.equal(pool.counters.startFailures, 1);
    assert.equal(pool.unavailableReason(), undefined);
    await sleep(150); // first retry after 100 ms
    assert.equal(workers.length, 2);
    workers[1]!.failStart('second failure');
    await flush();
    await sleep(100);
    assert.equal(workers.length, 2, 'second retry came before 200 ms');
    await sleep(150);
    assert.equal(workers.length, 3);
    assert.equal(queued.settled, false, 'a queued request failed before the brake gave up');
    const alsoQueued = track(pool.execute(job('b'), {}));
    workers[2]!.failStart(REASON);
    await flush();
    assert.ok(queued.settled && alsoQueued.settled);
    unavailable(REASON)(queued.error);
    unavailable(REASON)(alsoQueued.error);
    assert.equal(pool.status().queued, 0);
    assert.equal(pool.unavailableReason(), REASON);
    await assert.rejects(pool.execute(job('c'), {}), unavailable(REASON));
    assert.deepEqual([pool.counters.startFailures, pool.counters.respawns, pool.counters.executions], [3, 2, 0]);
    assert.ok(workers.every((w) => w.runs.length === 0));
  });

  it('a worker that cannot even be made counts as a start failure, with its message', async () => {
    let made = 0;
    const pool = new Pool({ size: 1, maxQueue: 4, log: silentLogger, makeWorker: () => { made += 1; throw new Error('spawn bwrap ENOENT'); } });
    pools.push(pool);
    pool.start();
    assert.deepEqual([made, pool.counters.startFailures, pool.status().starting], [1, 1, 0]);
    await sleep(400); // retries after 100 ms and then 200 ms
    assert.equal(made, 3);
    await assert.rejects(pool.execute(job('a'), {}), unavailable('spawn bwrap ENOENT'));
  });

  it('recovers after a successful start: the brake is released and requests run again', async () => {
    const { pool, workers } = open(1);
    pool.start();
    workers[0]!.failStart('one');
    await sleep(150);
    workers[1]!.failStart('two');
    await sleep(250);
    workers[2]!.failStart(REASON);
    await flush();
    assert.equal(pool.unavailableReason(), REASON);
    await sleep(500); // the fourth attempt comes after 400 ms
    assert.equal(workers.length, 4);
    workers[3]!.becomeReady();
    await flush();
    assert.equal(pool.unavailableReason(), undefined);
    const answer = track(pool.execute(job('again'), {}));
    await flush();
    assert.deepEqual(workers[3]!.runs.map((r) => r.job.code), ['again']);
    workers[3]!.report(result('ok'));
    workers[3]!.exit();
    await flush();
    assert.equal(answer.value?.status, 'ok');
    // Without failures the refill is immediate again.
    assert.equal(workers.length, 5);
    assert.deepEqual([pool.counters.respawns, pool.counters.startFailures], [4, 3]);
  });

  it('close() twice while a worker is still exiting: both resolve once it has exited', async () => {
    const { pool, workers } = open(1);
    pool.start();
    workers[0]!.becomeReady();
    await flush();
    workers[0]!.exitOnKill = false;
    const first = track(pool.close());
    const second = track(pool.close());
    await flush();
    assert.equal(second.error, undefined, `second close() failed: ${String((second.error as Error | undefined)?.message)}`);
    assert.deepEqual([first.settled, second.settled], [false, false]);
    workers[0]!.exit({ exitCode: null, signal: 'SIGKILL' });
    await flush();
    assert.deepEqual([first.settled, first.error, second.settled, second.error], [true, undefined, true, undefined]);
  });

  it('close() answers queued requests "cancelled", kills every worker and resolves only when all have exited', async () => {
    const { pool, workers } = open(2);
    pool.start();
    workers[0]!.becomeReady();
    await flush();
    const running = track(pool.execute(job('running'), {}));
    await flush();
    const queued = pool.execute(job('queued'), {});
    workers[1]!.exitOnKill = false;
    const closed = track(pool.close());
    assert.deepEqual(await queued, cancelledNotRun('the broker shut down before the run started'));
    await flush();
    assert.deepEqual(workers.map((w) => w.kills), [['shutdown'], ['shutdown']]);
    assert.equal(closed.settled, false, 'close() resolved before every worker exited');
    workers[1]!.exit({ exitCode: null, signal: 'SIGKILL' });
    await flush();
    assert.equal(closed.settled, true);
    assert.equal(running.value?.status, 'cancelled');
    assert.deepEqual(workers[1]!.runs, []);
    await assert.rejects(pool.execute(job('late'), {}), isBrokerError(-32003, 'the broker is shutting down', undefined));
    await sleep(50);
    assert.equal(workers.length, 2, 'a worker was spawned after close()');
  });
});
