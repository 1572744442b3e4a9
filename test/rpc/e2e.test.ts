import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnBroker, type BrokerClient } from '../../src/client/index.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

describe('pycell serve end to end (real stdio, vscode-jsonrpc client, real sandboxes)', function () {
  this.timeout(30_000);
  let broker: BrokerClient;
  before(async () => {
    broker = await spawnBroker({ args: ['--pool-size', '2', '--log-level', 'silent'] });
  });
  after(() => broker.close());

  it('initialize reports the isolation the host actually gave', () => {
    const { serverInfo, capabilities } = broker.initializeResult;
    assert.equal(serverInfo.name, 'pycell');
    const version = execFileSync('bwrap', ['--version'], { encoding: 'utf8' }).trim().replace(/^bubblewrap /, '');
    assert.equal(capabilities.isolation.mode, 'sandbox');
    assert.equal(capabilities.isolation.bubblewrap?.version, version);
    assert.equal(capabilities.isolation.network, 'none');
    assert.equal(capabilities.isolation.seccomp.active, true, 'the trial sandbox confirmed the filter on this host');
    assert.match(capabilities.isolation.seccomp.note, /^confirmed by a trial sandbox/);
    assert.deepEqual(capabilities.limits.defaults, { timeoutMs: 10_000, cpuMs: 10_000, memoryBytes: 256 * 2 ** 20, maxProcesses: 32, maxOutputBytes: 2 ** 20, maxFileBytes: 16 * 2 ** 20 });
    const python = execFileSync(capabilities.python.executable, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
    assert.equal(capabilities.python.version, python);
  });

  it('streams output in order, all of it before the response', async () => {
    const chunks: string[] = [];
    let answered = false;
    const code = 'import sys, time\nfor i in range(5):\n    print("line", i)\n    time.sleep(0.03)\nsys.stderr.write("err\\n")';
    const result = await broker.execute({ code }, {
      onOutput: (stream, text) => {
        assert.equal(answered, false, 'no output after the response');
        chunks.push(`${stream}:${text}`);
      },
    });
    answered = true;
    assert.equal(result.status, 'ok');
    const stdout = chunks.filter((c) => c.startsWith('stdout:')).map((c) => c.slice(7)).join('');
    assert.equal(stdout, 'line 0\nline 1\nline 2\nline 3\nline 4\n');
    assert.equal(stdout, result.stdout);
    assert.ok(chunks.filter((c) => c.startsWith('stdout:')).length >= 5, `streamed as it appeared, not at the end: ${JSON.stringify(chunks)}`);
    assert.deepEqual(chunks.filter((c) => c.startsWith('stderr:')), ['stderr:err\n']);
  });

  it('many concurrent requests: each answered once, with its own output', async () => {
    const n = 16;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => broker.execute({ code: `import os\nprint("run-${i}", os.getpid())\n${i} * 2` })));
    results.forEach((result, i) => {
      assert.equal(result.status, 'ok');
      assert.match(result.stdout, new RegExp(`^run-${i} 2\\n$`), 'its own output, from a fresh pid-2 agent');
      assert.deepEqual(result.value, { 'text/plain': String(i * 2) });
    });
  });

  it('stdin and files reach the code', async () => {
    const files = [{ path: 'data/in.txt', content: Buffer.from('héllo\n').toString('base64') }];
    const result = await broker.execute({ code: 'import sys\nprint(sys.stdin.read().upper(), end="")\nopen("data/in.txt", encoding="utf-8").read()', stdin: 'from stdin\n', files });
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, 'FROM STDIN\n');
    assert.deepEqual(result.value, { 'text/plain': "'héllo\\n'" });
  });

  it('cancelling a queued request answers "cancelled" without running it; the running one is untouched', async () => {
    const slow = (tag: string) => broker.execute({ code: `import time\ntime.sleep(0.8)\nprint("${tag}")` });
    const running = [slow('a'), slow('b')]; // occupy both pool slots
    await new Promise((resolve) => setTimeout(resolve, 150));
    const controller = new AbortController();
    const queued = broker.execute({ code: 'print("must not run")' }, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 100)); // let it reach the queue
    assert.equal((await broker.status()).queued, 1);
    controller.abort();
    const cancelled = await queued;
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.stdout, '');
    assert.equal(cancelled.usage.wallMs, 0);
    assert.match(cancelled.message ?? '', /queued/);
    const done = await Promise.all(running);
    assert.deepEqual(done.map((r) => [r.status, r.stdout]), [['ok', 'a\n'], ['ok', 'b\n']]);
  });

  const refused: [string, Record<string, unknown>, string, unknown][] = [
    ['zero timeout', { code: '1', limits: { timeoutMs: 0 } }, 'params.limits.timeoutMs', 0],
    ['negative memory', { code: '1', limits: { memoryBytes: -1 } }, 'params.limits.memoryBytes', -1],
    ['fractional cpu', { code: '1', limits: { cpuMs: 1.5 } }, 'params.limits.cpuMs', 1.5],
    ['above the maximum', { code: '1', limits: { maxProcesses: 100_000 } }, 'params.limits.maxProcesses', 100_000],
    ['unknown limit', { code: '1', limits: { wallMs: 5 } }, 'params.limits.wallMs', 5],
    ['code of the wrong type', { code: 42 }, 'params.code', 42],
    ['absolute file path', { code: '1', files: [{ path: '/etc/x', content: '' }] }, 'params.files.0.path', '/etc/x'],
    ['escaping file path', { code: '1', files: [{ path: 'a/../../x', content: '' }] }, 'params.files.0.path', 'a/../../x'],
    ['bad base64', { code: '1', files: [{ path: 'x', content: '***' }] }, 'params.files.0.content', '***'],
  ];
  for (const [name, params, field, value] of refused) {
    it(`refuses ${name} with -32602 naming ${field}`, async () => {
      await assert.rejects(broker.connection.sendRequest('execute', params), (error: { code: number; data: { field: string; value: unknown }; message: string }) => {
        assert.equal(error.code, -32602);
        assert.equal(error.data.field, field);
        assert.deepEqual(error.data.value, value);
        assert.ok(error.message.startsWith(`${field}: `), error.message);
        return true;
      });
    });
  }

  for (const method of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'execute/output']) {
    it(`"${method}" is not a method (-32601)`, async () => {
      await assert.rejects(broker.connection.sendRequest(method, {}), (error: { code: number }) => error.code === -32601);
    });
  }

  it('keeps serving after all of that', async () => {
    const result = await broker.execute({ code: 'print("still here")' });
    assert.equal(result.stdout, 'still here\n');
    const status = await broker.status();
    assert.ok(status.counters.executions >= 20);
    assert.equal(status.queued, 0);
  });
});

describe('malformed framing on real stdio', function () {
  this.timeout(20_000);
  it('answers -32700 / -32600 and still answers the valid request that follows', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--log-level', 'silent', '--pool-size', '1'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const frame = (body: string | Buffer): Buffer => {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n\r\n`), bytes]);
    };
    child.stdin!.write(Buffer.concat([
      Buffer.from('garbage without a header\r\n\r\n'),
      frame('{"jsonrpc":"2.0","id":1,"method":"initialize",'), // truncated JSON
      frame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), // invalid UTF-8
      frame('[{"jsonrpc":"2.0","id":2,"method":"initialize"}]'), // batch
      frame('{"jsonrpc":"2.0","id":3,"method":"initialize","params":{}}'),
      frame('{"jsonrpc":"2.0","id":4,"method":"execute","params":{"code":"print(40+2)"}}'),
    ]));
    const deadline = Date.now() + 10_000;
    while (!out.includes('"id":4') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    child.kill('SIGTERM');
    const bodies = out.split(/Content-Length: \d+\r\n\r\n/).filter(Boolean).map((b) => JSON.parse(b));
    const errors = bodies.filter((b) => b.error).map((b) => [b.id, b.error.code]);
    assert.deepEqual(errors, [[null, -32700], [null, -32700], [null, -32700], [null, -32600]]);
    assert.equal(bodies.find((b) => b.id === 3)?.result?.serverInfo?.name, 'pycell');
    assert.equal(bodies.find((b) => b.id === 4)?.result?.stdout, '42\n');
  });
});

describe('a client that stops reading', function () {
  this.timeout(30_000);
  it('gets no more output notifications past the backlog cap, yet every result, whole', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--log-level', 'silent', '--pool-size', '2', '--max-client-backlog', '1048576'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const frame = (value: unknown): Buffer => {
      const body = Buffer.from(JSON.stringify(value));
      return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]);
    };
    child.stdout!.pause(); // the client reads nothing until every run is over
    child.stdin!.write(frame({ jsonrpc: '2.0', id: 0, method: 'initialize', params: {} }));
    const runs = 6;
    for (let id = 1; id <= runs; id++) {
      child.stdin!.write(frame({ jsonrpc: '2.0', id, method: 'execute', params: { code: 'while True: print("x" * 999)', outputToken: `t${id}` } }));
    }
    await new Promise((resolve) => setTimeout(resolve, 6000)); // each run ends at 1 MiB of output (output_limit)
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.stdout!.resume();
    child.stdin!.write(frame({ jsonrpc: '2.0', id: 99, method: 'broker/status' }));
    const deadline = Date.now() + 10_000;
    while (!text.includes('"id":99') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    child.kill('SIGTERM');
    const messages = text.split(/Content-Length: \d+\r\n\r\n/).filter(Boolean).map((b) => JSON.parse(b) as { id?: number; method?: string; params?: { text: string }; result?: { status: string; stdout: string } });
    const notified = messages.filter((m) => m.method === 'execute/output').reduce((sum, m) => sum + Buffer.byteLength(m.params!.text), 0);
    const results = messages.filter((m) => m.id !== undefined && m.id >= 1 && m.id <= runs);
    assert.equal(results.length, runs, 'every execute answered');
    for (const m of results) {
      assert.equal(m.result!.status, 'output_limit');
      assert.equal(Buffer.byteLength(m.result!.stdout), 2 ** 20, 'the result carries the whole output');
    }
    // Without the cap all 6 MiB would have been queued as notifications; with it, about 1 MiB (plus the results).
    assert.ok(notified < 3 * 2 ** 20, `${notified} bytes of notifications were queued for a client that read nothing`);
  });
});
