import assert from 'node:assert/strict';
import type { ClientSession, ExecuteResult } from '../../src/client/index.js';
import { startInProcess, type InProcess } from '../helpers/inproc.js';
import { killAndReap, sessionOpener, sleep, withNewSandbox } from '../helpers/sessions.js';

const GRACE_MS = 500;
/** Blocks SIGINT in the main thread: KeyboardInterrupt can never be raised. */
const BLOCK_SIGINT = 'import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n';
/** A C loop that consumes an endless iterator without ever checking for signals (or allocating). */
const C_LOOP = 'import collections, itertools\ncollections.deque(itertools.count(), maxlen=0)\n';

/** Stopping session code: interrupt first (state kept), kill when it does not yield (state lost). */
describe('sessions: interrupts, limits and lost workers (real sandbox)', function () {
  this.timeout(30_000);
  let broker: InProcess;
  before(async () => {
    broker = await startInProcess({ poolSize: 1, maxSessions: 3, interruptGraceMs: GRACE_MS });
  });
  after(() => broker.dispose());

  const open = sessionOpener(() => broker);

  /** Runs code that prints `marker` and then blocks; cancels once the marker line has arrived. */
  const cancelAfter = async (s: ClientSession, code: string, marker: string): Promise<{ r: ExecuteResult; afterAbortMs: number }> => {
    const controller = new AbortController();
    let seen = '';
    let abortedAt = 0;
    const r = await s.execute(code, {
      signal: controller.signal,
      onOutput: (_stream, text) => {
        seen += text;
        if (!abortedAt && seen.includes(`${marker}\n`)) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    });
    assert.ok(abortedAt > 0, `the marker never arrived: ${JSON.stringify(r).slice(0, 800)}`);
    return { r, afterAbortMs: performance.now() - abortedAt };
  };

  const expectKept = async (s: ClientSession, name: string, value: string, count: number): Promise<void> => {
    const r = await s.execute(name);
    assert.equal(r.status, 'ok', `the namespace was lost: ${JSON.stringify(r).slice(0, 800)}`);
    assert.deepEqual(r.value, { 'text/plain': value });
    assert.equal(r.executionCount, count);
    assert.notEqual(r.sessionRestarted, true);
  };
  const expectLost = async (s: ClientSession, name: string): Promise<void> => {
    const r = await s.execute(name);
    assert.equal(r.status, 'error', `the namespace survived: ${JSON.stringify(r).slice(0, 800)}`);
    assert.equal(r.error?.message, `name '${name}' is not defined`);
    assert.equal(r.executionCount, 1, 'a fresh worker counts from 1');
    assert.notEqual(r.sessionRestarted, true, 'the loss was reported by the run that caused it');
  };

  it('cancel interrupts: cancelled, KeyboardInterrupt in the cell, output so far, namespace kept', async () => {
    const s = await open();
    await s.execute('kept = 41');
    const { r } = await cancelAfter(s, 'import time\nprint("started", flush=True)\ntime.sleep(30)', 'started');
    assert.equal(r.status, 'cancelled');
    assert.equal(r.stdout, 'started\n');
    assert.equal(r.executionCount, 2);
    assert.notEqual(r.sessionRestarted, true);
    assert.equal(r.signal, null);
    assert.equal(r.error?.type, 'KeyboardInterrupt');
    // Line 3 (the sleep), or line 2 when the interrupt lands while print() is still returning.
    assert.ok(r.error!.traceback.some((l) => /^ {2}File "<cell-2>", line [23], in <module>$/.test(l)), r.error!.traceback.join('\n'));
    await expectKept(s, 'kept + 1', '42', 3);
  });

  it('user code that catches KeyboardInterrupt runs its handler; the run is still cancelled', async () => {
    const s = await open();
    const { r } = await cancelAfter(s, 'import time\ntry:\n    print("waiting", flush=True)\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    print("caught")\n    handled = True', 'waiting');
    assert.equal(r.status, 'cancelled');
    assert.equal(r.stdout, 'waiting\ncaught\n');
    await expectKept(s, 'handled', 'True', 2);
  });

  it('code that blocks SIGINT is killed after interruptGraceMs: cancelled, sessionRestarted, state lost', async () => {
    const s = await open();
    await s.execute('doomed = 1');
    const { r, afterAbortMs } = await cancelAfter(s, `${BLOCK_SIGINT}import time\nprint("blocked", flush=True)\ntime.sleep(30)`, 'blocked');
    assert.equal(r.status, 'cancelled');
    assert.equal(r.sessionRestarted, true);
    assert.equal(r.stdout, 'blocked\n');
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.executionCount, 2);
    assert.ok(afterAbortMs >= GRACE_MS - 50, `killed ${afterAbortMs} ms after the cancel, before the grace period`);
    await expectLost(s, 'doomed');
  });

  it('a C loop that never checks signals is killed the same way', async () => {
    const s = await open();
    await s.execute('doomed = 1');
    const { r } = await cancelAfter(s, `print("looping", flush=True)\n${C_LOOP}`, 'looping');
    assert.equal(r.status, 'cancelled');
    assert.equal(r.sessionRestarted, true);
    assert.equal(r.signal, 'SIGKILL');
    await expectLost(s, 'doomed');
  });

  it('a wall timeout (timeoutMs from session/open) interrupts: timeout, KeyboardInterrupt, state kept', async () => {
    const s = await open({ timeoutMs: 700 });
    await s.execute('t = "kept"');
    const r = await s.execute('import time\nprint("sleeping")\ntime.sleep(30)');
    assert.equal(r.status, 'timeout');
    assert.equal(r.stdout, 'sleeping\n');
    assert.equal(r.error?.type, 'KeyboardInterrupt');
    assert.notEqual(r.sessionRestarted, true);
    assert.ok(r.usage.wallMs >= 700 && r.usage.wallMs < 700 + GRACE_MS, `wallMs ${r.usage.wallMs}`);
    await expectKept(s, 't', "'kept'", 3);
  });

  it('a wall timeout (timeoutMs per execute) in code that blocks SIGINT kills: timeout, sessionRestarted', async () => {
    const s = await open();
    await s.execute('t = "kept"');
    const r = await s.execute(`${BLOCK_SIGINT}import time\ntime.sleep(30)`, { limits: { timeoutMs: 500 } });
    assert.equal(r.status, 'timeout');
    assert.equal(r.sessionRestarted, true);
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(r.usage.wallMs >= 500 + GRACE_MS - 50, `killed after ${r.usage.wallMs} ms, before timeout + grace`);
    await expectLost(s, 't');
  });

  it('memory past the memoryBytes set at session/open is memory_limit and the session restarts', async () => {
    const s = await open({ memoryBytes: 64 * 1024 * 1024 });
    await s.execute('small = 1');
    const r = await s.execute('import time\nx = b"a" * (200 * 2**20)\ntime.sleep(10)');
    assert.equal(r.status, 'memory_limit', JSON.stringify(r).slice(0, 800));
    assert.equal(r.sessionRestarted, true);
    assert.ok(r.usage.peakMemoryBytes >= 0.9 * 64 * 1024 * 1024, `peak ${r.usage.peakMemoryBytes}`);
    await expectLost(s, 'small');
  });

  it('a worker killed between runs: the next result says sessionRestarted, ok on a fresh worker', async () => {
    const { value: s, bwrap } = await withNewSandbox(() => open());
    await s.execute('gone = 1');
    await s.execute('gone += 1');
    await killAndReap(bwrap);
    await sleep(100); // the broker hears of the exit
    const r = await s.execute("'gone' in globals()");
    assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
    assert.deepEqual(r.value, { 'text/plain': 'False' });
    assert.equal(r.sessionRestarted, true);
    assert.equal(r.executionCount, 1);
    assert.equal(typeof r.message, 'string');
    const next = await s.execute('1');
    assert.notEqual(next.sessionRestarted, true);
    assert.equal(next.executionCount, 2);
  });
});
