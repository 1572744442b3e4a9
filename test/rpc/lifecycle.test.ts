import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { processesMentioning, runtimeDirOf, waitFor } from '../helpers/procs.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

interface Served {
  child: ChildProcess;
  connection: MessageConnection;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `pycell serve --stdio` exactly as an outside program starts it. */
function serve(args: string[] = []): Served {
  const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--log-level', 'silent', '--pool-size', '2', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  return { child, connection, exit };
}

/** Starts a broker, runs one execute so its sandboxes exist, and returns what identifies them. */
async function started(args: string[] = []): Promise<Served & { runtime: string }> {
  const served = serve(args);
  await served.connection.sendRequest('initialize', {});
  const result = await served.connection.sendRequest<{ status: string }>('execute', { code: 'print(1)' });
  assert.equal(result.status, 'ok');
  const runtime = runtimeDirOf(served.child.pid!);
  assert.ok(runtime, 'the broker has sandboxes with a runtime dir');
  assert.ok(processesMentioning(runtime).length > 0, 'its warm sandboxes are running');
  return { ...served, runtime };
}

/** Nothing of that broker is left: no process names its runtime dir, and the dir is gone. */
async function assertNothingLeft(runtime: string): Promise<void> {
  assert.ok(await waitFor(() => processesMentioning(runtime).length === 0, 2000), `sandbox processes left: ${processesMentioning(runtime).join(', ')}`);
  assert.equal(existsSync(runtime), false, `runtime dir ${runtime} left behind`);
}

describe('lifecycle over real stdio', function () {
  this.timeout(20_000);

  it('answers -32002 to any request before initialize, unknown methods included', async () => {
    const served = serve();
    for (const method of ['execute', 'broker/status', 'no/such/method']) {
      await assert.rejects(served.connection.sendRequest(method, { code: '1' }), (error: { code: number }) => error.code === -32002);
    }
    served.child.kill('SIGTERM');
    await served.exit;
  });

  it('shutdown then exit: exit code 0, every sandbox gone, runtime dir removed', async () => {
    const served = await started();
    assert.equal(await served.connection.sendRequest('shutdown'), null);
    await assert.rejects(served.connection.sendRequest('execute', { code: '1' }), (error: { code: number }) => error.code === -32003);
    await served.connection.sendNotification('exit');
    assert.deepEqual(await served.exit, { code: 0, signal: null });
    await assertNothingLeft(served.runtime);
  });

  it('exit without shutdown: exit code 1, nothing left', async () => {
    const served = await started();
    await served.connection.sendNotification('exit');
    assert.deepEqual(await served.exit, { code: 1, signal: null });
    await assertNothingLeft(served.runtime);
  });

  it('end of stdin with a run in flight: the run is stopped, exit code 1, nothing left', async () => {
    const served = await started();
    void served.connection.sendRequest('execute', { code: 'import time\ntime.sleep(30)' }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    served.child.stdin!.end();
    assert.deepEqual(await served.exit, { code: 1, signal: null });
    await assertNothingLeft(served.runtime);
  });

  for (const [signal, code] of [['SIGTERM', 0], ['SIGINT', 130]] as const) {
    it(`${signal}: exits with ${code}, nothing left`, async () => {
      const served = await started();
      served.child.kill(signal);
      assert.deepEqual(await served.exit, { code, signal: null });
      await assertNothingLeft(served.runtime);
    });
  }

  it('SIGKILL of the broker: every sandbox dies with it (--die-with-parent)', async () => {
    const served = await started();
    void served.connection.sendRequest('execute', { code: 'import time\ntime.sleep(30)' }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    served.child.kill('SIGKILL');
    await served.exit;
    assert.ok(await waitFor(() => processesMentioning(served.runtime).length === 0, 2000), `sandbox processes outlived the broker: ${processesMentioning(served.runtime).join(', ')}`);
    // Its runtime dir could not be removed by a dead broker: the next broker removes it.
    assert.equal(existsSync(served.runtime), true);
    const next = await started();
    assert.equal(existsSync(served.runtime), false, 'the next broker removed the stale runtime dir');
    next.child.kill('SIGTERM');
    await next.exit;
  });

  it('refuses to start without a usable bubblewrap, pointing to pycell doctor', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--bwrap', '/nonexistent/bwrap'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise((resolve) => child.once('close', resolve));
    assert.equal(code, 3);
    assert.match(stderr, /bubblewrap \(\/nonexistent\/bwrap\) is not installed/);
    assert.match(stderr, /pycell doctor/);
    assert.equal(stdout, '', 'nothing but protocol ever goes to stdout');
  });

  it('weak isolation only when the operator asks, and initialize says so', async () => {
    const served = serve(['--bwrap', '/nonexistent/bwrap', '--allow-weak-isolation']);
    const init = await served.connection.sendRequest<{ capabilities: { isolation: { mode: string; namespaces: string[]; network: string; warnings: string[] } } }>('initialize', {});
    const { isolation } = init.capabilities;
    assert.equal(isolation.mode, 'weak');
    assert.deepEqual(isolation.namespaces, []);
    assert.equal(isolation.network, 'host');
    assert.match(isolation.warnings.join('\n'), /weak isolation: code runs as a plain process/);
    const result = await served.connection.sendRequest<{ status: string; stdout: string }>('execute', { code: 'import os\nprint(os.getuid() != 0)' });
    assert.deepEqual([result.status, result.stdout], ['ok', 'True\n']);
    await served.connection.sendRequest('shutdown');
    await served.connection.sendNotification('exit');
    assert.equal((await served.exit).code, 0);
  });

  it('refuses to start when bubblewrap is there but cannot make a sandbox, with bubblewrap\'s own words', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pycell-fake-bwrap-'));
    const fake = join(dir, 'bwrap');
    writeFileSync(fake, '#!/bin/sh\nif [ "$1" = --version ]; then echo "bubblewrap 0.8.0"; exit 0; fi\necho "bwrap: setting up uid map: Permission denied" >&2\nexit 1\n', { mode: 0o755 });
    chmodSync(dir, 0o755);
    try {
      const child = spawn(process.execPath, [CLI, 'serve', '--bwrap', fake], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      assert.equal(await new Promise((resolve) => child.once('close', resolve)), 3);
      assert.match(stderr, /a trial sandbox exited with code 1: bwrap: setting up uid map: Permission denied/);
      assert.match(stderr, /pycell doctor/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('endings answer what is in flight, and a vanished client never ends the broker by a crash', function () {
  this.timeout(20_000);

  for (const ending of ['exit notification', 'end of stdin', 'SIGTERM'] as const) {
    it(`${ending}: every running and queued execute is answered before the process ends`, async () => {
      const served = serve();
      await served.connection.sendRequest('initialize', {});
      const answers = Array.from({ length: 4 }, () =>
        served.connection.sendRequest<{ status: string }>('execute', { code: 'import time\ntime.sleep(30)' }).then((r) => r.status, (e: Error) => `rejected: ${e.message}`));
      await new Promise((resolve) => setTimeout(resolve, 300));
      if (ending === 'exit notification') await served.connection.sendNotification('exit');
      else if (ending === 'end of stdin') served.child.stdin!.end();
      else served.child.kill('SIGTERM');
      assert.deepEqual(await Promise.all(answers), ['cancelled', 'cancelled', 'cancelled', 'cancelled']);
      assert.equal((await served.exit).signal, null);
    });
  }

  it('a client that closes the broker\'s stdout mid-stream: the broker cleans up and exits 1, no crash, nothing left', async () => {
    const served = await started();
    void served.connection.sendRequest('execute', { code: 'import time\nfor i in range(200):\n    print(i, flush=True)\n    time.sleep(0.01)', outputToken: 'x' }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    served.child.stdout!.destroy(); // EPIPE on every further write: the client is gone
    // An uncaught EPIPE would end the process before its cleanup, leaving the runtime dir and sandboxes behind.
    assert.deepEqual(await served.exit, { code: 1, signal: null });
    await assertNothingLeft(served.runtime);
  });
});
