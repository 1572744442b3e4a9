import assert from 'node:assert/strict';
import { startInProcess, type InProcess } from '../helpers/inproc.js';

/** Every status, produced by real code in a real sandbox. */
describe('execute statuses (real sandbox)', function () {
  this.timeout(30_000);
  let broker: InProcess;
  before(async () => {
    broker = await startInProcess({ poolSize: 2 });
  });
  after(() => broker.dispose());

  const rows: { name: string; code: string; limits?: Record<string, number>; expect: Record<string, unknown>; check?: (r: any) => void }[] = [
    { name: 'ok with stdout and the last value', code: 'print(1+1)\n6*7', expect: { status: 'ok', stdout: '2\n', exitCode: 0, signal: null }, check: (r) => assert.deepEqual(r.value, { 'text/plain': '42' }) },
    { name: 'ok without a value when the last expression is None', code: 'x = None\nx', expect: { status: 'ok', exitCode: 0 }, check: (r) => assert.equal(r.value, undefined) },
    { name: 'sys.exit(0) is ok', code: 'import sys\nprint("bye")\nsys.exit(0)', expect: { status: 'ok', stdout: 'bye\n', exitCode: 0 } },
    { name: 'sys.exit(3) is error/SystemExit with exit code 3', code: 'import sys\nsys.exit(3)', expect: { status: 'error', exitCode: 3 }, check: (r) => assert.equal(r.error.type, 'SystemExit') },
    {
      name: 'an exception is error with the user\'s traceback', code: 'def f(x):\n    return 1 / x\nf(0)', expect: { status: 'error', exitCode: 1 },
      check: (r) => {
        assert.equal(r.error.type, 'ZeroDivisionError');
        assert.equal(r.error.message, 'division by zero');
        const text = r.error.traceback.join('\n');
        assert.match(text, /File "<cell>", line 3/);
        assert.match(text, /return 1 \/ x/);
        assert.doesNotMatch(text, /pycell_agent/);
      },
    },
    { name: 'a SyntaxError is error with its position', code: 'x = (1,\n', expect: { status: 'error' }, check: (r) => { assert.equal(r.error.type, 'SyntaxError'); assert.match(r.error.traceback.join('\n'), /line 1/); } },
    { name: 'wall clock: sleeping forever is timeout', code: 'import time\nprint("start", flush=True)\ntime.sleep(60)', limits: { timeoutMs: 1000 }, expect: { status: 'timeout', stdout: 'start\n', exitCode: null, signal: 'SIGKILL' } },
    { name: 'CPU spin is cpu_limit (monitor)', code: 'while True: pass', limits: { cpuMs: 500, timeoutMs: 20_000 }, expect: { status: 'cpu_limit', signal: 'SIGKILL' }, check: (r) => assert.ok(r.usage.cpuMs >= 500, `cpuMs ${r.usage.cpuMs}`) },
    { name: '10**10**8 is cpu_limit, not a hang', code: '10**10**8', limits: { cpuMs: 500, timeoutMs: 20_000 }, expect: { status: 'cpu_limit' } },
    {
      name: 'touching memory past the limit is memory_limit (monitor)', code: 'import time\nx = b"a" * (200 * 2**20)\ntime.sleep(10)', limits: { memoryBytes: 100 * 2 ** 20, timeoutMs: 20_000 }, expect: { status: 'memory_limit', signal: 'SIGKILL' },
      check: (r) => assert.ok(r.usage.peakMemoryBytes >= 0.9 * 100 * 2 ** 20, `peak ${r.usage.peakMemoryBytes}`),
    },
    {
      name: 'a flood past maxOutputBytes is output_limit, cut at the limit', code: 'while True: print("x" * 99)', limits: { maxOutputBytes: 10_000 }, expect: { status: 'output_limit', stdoutTruncated: true },
      check: (r) => assert.equal(Buffer.byteLength(r.stdout), 10_000),
    },
    { name: 'os._exit(137) is crashed with exit code 137, not a memory kill', code: 'import os\nos._exit(137)', expect: { status: 'crashed', exitCode: 137, signal: null } },
    { name: 'a self-inflicted SIGKILL is crashed', code: 'import os, signal\nos.kill(os.getpid(), signal.SIGKILL)', expect: { status: 'crashed' } },
  ];

  for (const row of rows) {
    it(row.name, async () => {
      const result = await broker.client.execute({ code: row.code, ...(row.limits ? { limits: row.limits } : {}) });
      for (const [key, value] of Object.entries(row.expect)) assert.deepEqual((result as any)[key], value, `${key} of ${JSON.stringify(result).slice(0, 600)}`);
      row.check?.(result);
      if (!['ok', 'error'].includes(result.status)) assert.equal(typeof result.message, 'string');
    });
  }

  it('cancelled: a running execute answers "cancelled" with the output so far', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const pending = broker.client.execute({ code: 'import time\nprint("before", flush=True)\ntime.sleep(30)' }, {
      signal: controller.signal,
      onOutput: (_stream, text) => {
        seen.push(text);
        // print() under -u writes the text and the newline separately: cancel once the line is complete.
        if (seen.join('').includes('\n')) controller.abort();
      },
    });
    const result = await pending;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.stdout, 'before\n');
    assert.equal(seen.join(''), 'before\n');
  });
});
