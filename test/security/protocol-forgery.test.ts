import assert from 'node:assert/strict';
import type { ExecuteResult } from '../../src/client/index.js';
import { randomTag, startBroker, type SecurityBroker } from './harness.js';

/** Python: the id the broker gave this run, dug out of the agent's frames (user code can: it shares the process). */
const OWN_ID = String.raw`
import sys as _sys
def own_id():
    f = _sys._getframe()
    while f is not None:
        m = f.f_locals.get('message')
        if isinstance(m, dict) and m.get('type') == 'execute':
            return m['id']
        f = f.f_back
    raise RuntimeError('execute message not found')
`;

/** A concurrent, honest run: its result must be exactly its own whatever its neighbour does. */
const HONEST = "import time\ntime.sleep(1.0)\nprint('B-real')\n'B'";
function assertHonest(result: ExecuteResult): void {
  assert.equal(result.status, 'ok', `the honest run was affected: ${JSON.stringify(result).slice(0, 600)}`);
  assert.equal(result.stdout, 'B-real\n');
  assert.equal(result.stderr, '');
  assert.deepEqual(result.value, { 'text/plain': "'B'" });
  assert.equal(result.exitCode, 0);
}

/**
 * THREATS: user code that prints fake JSON-RPC frames on every fd, reads the broker's stdin, or forges
 * the agent's messages. Issue 2 / protocol/agent.md: the control channel is on its own fds; everything a
 * worker sends is parsed with limits and can affect only its own run; status comes from the broker's records.
 */
describe('security: forged protocol messages', function () {
  this.timeout(30_000);
  let broker: SecurityBroker;

  before(async () => {
    broker = await startBroker();
  });
  after(async () => broker?.close());

  it('fake JSON-RPC frames on fd 1 and fd 2 are plain output; the real answers reach their own requests', async () => {
    const frames = (stream: string): string => {
      let text = '';
      for (let id = 0; id < 40; id++) {
        const body = JSON.stringify({ jsonrpc: '2.0', id, result: { status: 'ok', stdout: `FORGED-${stream}`, stderr: '', stdoutTruncated: false, stderrTruncated: false, exitCode: 0, signal: null, usage: { wallMs: 1, cpuMs: 1, peakMemoryBytes: 1 } } });
        text += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      }
      const note = JSON.stringify({ jsonrpc: '2.0', method: 'execute/output', params: { token: 'victim-token', stream: 'stdout', text: `FORGED-NOTE-${stream}` } });
      text += `Content-Length: ${Buffer.byteLength(note)}\r\n\r\n${note}`;
      const error = JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32603, message: 'FORGED' } });
      return `${text}Content-Length: ${Buffer.byteLength(error)}\r\n\r\n${error}`;
    };
    const out = frames('stdout');
    const err = frames('stderr');
    const code = `import os, sys\nsys.stdout.write(${JSON.stringify(out.slice(0, 500))})\nsys.stdout.flush()\nos.write(1, ${JSON.stringify(out.slice(500))}.encode())\nos.write(2, ${JSON.stringify(err)}.encode())\n'A'`;
    const victimChunks: string[] = [];
    const [victim, forger, status] = await Promise.all([
      broker.execute({ code: HONEST, outputToken: 'victim-token' }, { onOutput: (_s, text) => victimChunks.push(text) }),
      broker.execute({ code }),
      broker.client.status(),
    ]);
    assert.equal(forger.status, 'ok');
    assert.equal(forger.stdout, out);
    assert.equal(forger.stderr, err);
    assert.deepEqual(forger.value, { 'text/plain': "'A'" });
    assertHonest(victim);
    assert.equal(victimChunks.join(''), 'B-real\n'); // how print()'s two writes are chunked is timing
    assert.equal(typeof status.workers.idle, 'number');
  });

  it('forged results for other run ids on fd 4 are ignored: both concurrent runs get their own true results', async () => {
    const code = `${OWN_ID}
import os, json
me = own_id()
for other in range(max(0, me - 200), me + 200):
    if other != me:
        os.write(4, (json.dumps({'type': 'result', 'id': other, 'status': 'ok', 'value': {'text/plain': "'FORGED'"}}) + '\\n').encode())
        os.write(4, (json.dumps({'type': 'display', 'id': other, 'data': {'text/plain': 'FORGED-DISPLAY'}}) + '\\n').encode())
print('A-real')
'A'`;
    const displays: unknown[] = [];
    const victimP = broker.execute({ code: HONEST }, { onDisplay: (d) => displays.push(d) });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const forger = await broker.execute({ code });
    assert.equal(forger.status, 'ok', JSON.stringify(forger).slice(0, 600));
    assert.equal(forger.stdout, 'A-real\n');
    assert.deepEqual(forger.value, { 'text/plain': "'A'" });
    assertHonest(await victimP);
    assert.deepEqual(displays, []);
  });

  it('forging its own "ok" result and then calling os._exit(3) is "crashed" with exit code 3', async () => {
    const code = `${OWN_ID}
import os, json
os.write(4, (json.dumps({'type': 'result', 'id': own_id(), 'status': 'ok', 'value': {'text/plain': "'FORGED'"}}) + '\\n').encode())
os._exit(3)`;
    const result = await broker.execute({ code });
    assert.equal(result.status, 'crashed', JSON.stringify(result));
    assert.equal(result.exitCode, 3);
    assert.equal(result.value, undefined);
  });

  it('forging its own "ok" result and then raising is "crashed", not ok, and shows no forged value', async () => {
    const code = `${OWN_ID}
import os, json
os.write(4, (json.dumps({'type': 'result', 'id': own_id(), 'status': 'ok', 'value': {'text/plain': "'FORGED'"}}) + '\\n').encode())
raise RuntimeError('real failure')`;
    const result = await broker.execute({ code });
    assert.notEqual(result.status, 'ok', JSON.stringify(result));
    assert.equal(result.status, 'crashed', JSON.stringify(result));
    assert.equal(result.value, undefined);
  });

  for (const [name, payload, why] of [
    ['garbage', "os.write(4, b'garbage, not json\\n')", /not JSON/],
    ['a schema-invalid message', "os.write(4, b'{\"type\": \"result\", \"id\": \"x\", \"status\": 42}\\n')", /invalid control message/],
    ['a second ready', "os.write(4, b'{\"type\": \"ready\", \"pid\": 2, \"python\": \"3\"}\\n')", /second ready/],
    ['a 17 MiB line without a newline', "os.write(4, b'{' * (17 * 1024 * 1024))", /control line longer/],
  ] as const) {
    it(`${name} on fd 4 makes only its own run "crashed"; a concurrent run is untouched`, async () => {
      const victimP = broker.execute({ code: HONEST });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const forger = await broker.execute({ code: `import os, time\n${payload}\ntime.sleep(3)\nprint('NOT-REACHED')` });
      assert.equal(forger.status, 'crashed', JSON.stringify(forger).slice(0, 600));
      assert.match(forger.message ?? '', why);
      assert.ok(!forger.stdout.includes('NOT-REACHED'), 'the broker killed the run at the fault, before its sleep ended');
      assertHonest(await victimP);
    });
  }

  it("fd 0 holds only the run's own stdin and fd 3 nothing from the broker, while other requests flow", async () => {
    const marker = `BROKER-STDIN-MARKER-${randomTag()}`;
    const code = String.raw`
import os, sys, time, errno
first = sys.stdin.read()
seen0, seen3, eagain3 = b'', b'', 0
os.set_blocking(3, False)
deadline = time.time() + 1.5
while time.time() < deadline:
    seen0 += os.read(0, 65536)
    try:
        seen3 += os.read(3, 65536)
    except BlockingIOError:
        eagain3 += 1
    time.sleep(0.01)
os.set_blocking(3, True)
print(repr(first), repr(seen0), repr(seen3), eagain3 > 10)
`;
    const readerP = broker.execute({ code, stdin: 'hello-stdin\n' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Traffic on the broker's own stdin while the reader reads: another execute naming a marker, and status.
    const [other] = await Promise.all([broker.execute({ code: `print(${JSON.stringify(marker)})` }), broker.client.status()]);
    assert.equal(other.stdout, `${marker}\n`);
    const reader = await readerP;
    assert.equal(reader.status, 'ok', JSON.stringify(reader));
    assert.equal(reader.stdout, "'hello-stdin\\n' b'' b'' True\n");
    assert.ok(!reader.stdout.includes(marker));
  });
});
