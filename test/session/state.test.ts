import assert from 'node:assert/strict';
import type { ClientSession, ExecuteResult } from '../../src/client/index.js';
import { startInProcess, type InProcess } from '../helpers/inproc.js';
import { rejection, sessionOpener, sleep } from '../helpers/sessions.js';

const IDLE_MS = 600;

/** A session's namespace, ordering, lifecycle and the operator's caps, over real session sandboxes. */
describe('sessions: state and lifecycle (real sandbox)', function () {
  this.timeout(30_000);
  let broker: InProcess;
  before(async () => {
    broker = await startInProcess({ poolSize: 1, maxSessions: 2, sessionIdleMs: IDLE_MS, interruptGraceMs: 500 });
  });
  after(() => broker.dispose());

  /** Every test closes what it opened, so the cap of 2 is free for the next one. */
  const open = sessionOpener(() => broker);

  const ok = (r: ExecuteResult, count: number): void => {
    assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
    assert.equal(r.executionCount, count);
    assert.notEqual(r.sessionRestarted, true);
  };

  it('variables, functions and imports persist; executionCount counts 1, 2, 3', async () => {
    const s = await open();
    const r1 = await s.execute('x = 20\nimport math');
    ok(r1, 1);
    assert.equal(r1.session, s.id);
    assert.equal(r1.value, undefined);
    ok(await s.execute('def double(v):\n    return 2 * v\nx += 1'), 2);
    const r3 = await s.execute('double(x) + math.floor(0.5)');
    ok(r3, 3);
    assert.deepEqual(r3.value, { 'text/plain': '42' });
  });

  it('a session variable is invisible to stateless executes and to another session; stateless runs stay fresh', async () => {
    const a = await open();
    const b = await open();
    ok(await a.execute('secret_var = 7'), 1);
    const stateless = await broker.client.execute({ code: "'secret_var' in globals()" });
    assert.equal(stateless.status, 'ok');
    assert.deepEqual(stateless.value, { 'text/plain': 'False' });
    assert.equal(stateless.session, undefined);
    assert.equal(stateless.executionCount, undefined);
    const other = await b.execute('secret_var');
    assert.equal(other.status, 'error');
    assert.equal(other.error?.type, 'NameError');
    assert.equal(other.error?.message, "name 'secret_var' is not defined");
    assert.equal((await broker.client.execute({ code: 'y = 1' })).status, 'ok');
    const fresh = await broker.client.execute({ code: 'y' });
    assert.equal(fresh.status, 'error');
    assert.equal(fresh.error?.message, "name 'y' is not defined");
  });

  it('executes of one session run one at a time, in arrival order', async () => {
    const s = await open();
    const results = await Promise.all([
      s.execute('import time\ntime.sleep(0.3)\nlog = ["a"]'),
      s.execute('log.append("b")'),
      s.execute('log.append("c")\nlog'),
    ]);
    results.forEach((r, i) => ok(r, i + 1));
    assert.deepEqual(results[2]!.value, { 'text/plain': "['a', 'b', 'c']" });
  });

  it('different sessions run in parallel', async () => {
    const [a, b] = [await open(), await open()];
    const code = 'import time\nstart = time.time()\ntime.sleep(0.8)\n(start, time.time())';
    const [ra, rb] = await Promise.all([a.execute(code), b.execute(code)]);
    ok(ra, 1);
    ok(rb, 1);
    const span = (r: ExecuteResult): [number, number] => JSON.parse(r.value!['text/plain'].replace('(', '[').replace(')', ']')) as [number, number];
    const [[startA, endA], [startB, endB]] = [span(ra), span(rb)];
    assert.ok(startA < endB && startB < endA, `the two runs did not overlap: A ${startA}..${endA}, B ${startB}..${endB}`);
  });

  it('restart empties the namespace, executionCount starts again at 1, and a running execute ends cancelled', async () => {
    const s = await open();
    ok(await s.execute('z = 1'), 1);
    ok(await s.execute('z'), 2);
    let started!: () => void;
    const printed = new Promise<void>((resolve) => (started = resolve));
    const running = s.execute('import time\nprint("running", flush=True)\ntime.sleep(30)', { onOutput: (_s, text) => text.includes('\n') && started() });
    await printed;
    await s.restart();
    const cut = await running;
    assert.equal(cut.status, 'cancelled');
    assert.equal(cut.executionCount, 3);
    assert.equal(cut.stdout, 'running\n');
    const after = await s.execute('z');
    assert.equal(after.status, 'error');
    assert.equal(after.error?.message, "name 'z' is not defined");
    assert.equal(after.executionCount, 1);
    assert.notEqual(after.sessionRestarted, true, 'an asked-for restart is not news to the client');
    ok(await s.execute('z = 2'), 2);
  });

  it('an execute waiting for a worker that a second restart replaces never runs: cancelled, then the session works', async () => {
    const s = await open();
    assert.equal((await s.execute('x = 1')).status, 'ok');
    const first = s.restart(); // the old worker is being killed
    const waiting = s.execute('x = 2\nprint("ran")'); // dequeued at once, waits for the fresh worker to start
    const second = s.restart(); // replaces that worker while it is still starting
    const r = await waiting;
    await Promise.all([first, second]);
    assert.equal(r.status, 'cancelled', JSON.stringify(r));
    assert.equal(r.message, 'the session was restarted before the run started');
    assert.equal(r.stdout, '');
    const after = await s.execute('"x" in globals()');
    ok(after, 1);
    assert.equal(after.value?.['text/plain'], 'False');
  });

  it('a closed session answers -32011 "closed by the client (session/close)" to every method', async () => {
    const s = await broker.client.openSession();
    ok(await s.execute('1'), 1);
    await s.close();
    const reason = 'closed by the client (session/close)';
    for (const request of [s.execute('1'), s.complete('x'), s.restart(), s.close()]) {
      const error = await rejection(request);
      assert.equal(error.code, -32011);
      assert.equal(error.data?.reason, reason);
      assert.equal(error.data?.value, s.id);
      assert.ok(error.message.includes(reason), error.message);
    }
  });

  it('an id never opened answers -32011 "no session with this id was opened"', async () => {
    const c = broker.client.connection;
    for (const request of [
      broker.client.execute({ code: '1', session: 's-never' }),
      c.sendRequest('session/complete', { session: 's-never', code: 'x', cursor: 1 }),
      c.sendRequest('session/restart', { session: 's-never' }),
      c.sendRequest('session/close', { session: 's-never' }),
    ]) {
      const error = await rejection(request);
      assert.equal(error.code, -32011);
      assert.equal(error.data?.reason, 'no session with this id was opened');
      assert.equal(error.data?.field, 'params.session');
      assert.equal(error.data?.value, 's-never');
    }
  });

  it('maxSessions caps open sessions with -32012; closing one frees its place', async () => {
    assert.equal((await broker.client.status()).sessions, 0);
    const first = await open();
    await open();
    const error = await rejection(broker.client.openSession());
    assert.equal(error.code, -32012);
    assert.equal(error.data?.limit, 2);
    assert.equal((await broker.client.status()).sessions, 2);
    await first.close();
    const third = await open();
    ok(await third.execute('1'), 1);
  });

  for (const name of ['memoryBytes', 'maxProcesses', 'maxFileBytes'] as const) {
    it(`limits.${name} in a session execute is -32602 naming params.limits.${name}; nothing runs`, async () => {
      const s = await open();
      const error = await rejection(s.execute('ran = True', { limits: { [name]: 1024 * 1024 } }));
      assert.equal(error.code, -32602);
      assert.equal(error.data?.field, `params.limits.${name}`);
      assert.ok(error.message.startsWith(`params.limits.${name}: `), error.message);
      const next = await s.execute("'ran' in globals()");
      ok(next, 1);
      assert.deepEqual(next.value, { 'text/plain': 'False' });
    });
  }

  it('timeoutMs, cpuMs and maxOutputBytes may be set per session execute; lifetime limits at session/open', async () => {
    const s = await open({ memoryBytes: 128 * 1024 * 1024, maxProcesses: 16, maxFileBytes: 1024 * 1024 });
    const r = await s.execute('print("a" * 10)', { limits: { timeoutMs: 2000, cpuMs: 2000, maxOutputBytes: 4096 } });
    ok(r, 1);
    assert.equal(r.stdout, `${'a'.repeat(10)}\n`);
    const tooBig = await rejection(broker.client.openSession({ memoryBytes: 8192 * 1024 * 1024 }));
    assert.equal(tooBig.code, -32602);
    assert.equal(tooBig.data?.field, 'params.limits.memoryBytes');
  });

  it('a session untouched for longer than sessionIdleMs is closed; the next use is -32011 saying idle', async () => {
    const s = await open();
    ok(await s.execute('import time\ntime.sleep(0.9)'), 1); // longer than IDLE_MS, but busy: not closed
    ok(await s.execute('2'), 2);
    await sleep(IDLE_MS + 500);
    const error = await rejection(s.execute('3'));
    const reason = `closed after more than ${IDLE_MS} ms without work (the operator's sessionIdleMs)`;
    assert.equal(error.code, -32011);
    assert.equal(error.data?.reason, reason);
    assert.ok(error.message.includes(reason), error.message);
    assert.equal((await broker.client.status()).sessions, 0);
  });
});
