import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, probe, startBroker, waitFor } from './harness.js';

/**
 * THREATS: path unix sockets reachable through binds. A network namespace does not cover them, and a
 * read-only mount does not stop connect(): the only defence is that no socket is visible in the sandbox.
 * (Abstract sockets: network.test.ts.)
 */
describe('security: path unix sockets', function () {
  this.timeout(30_000);
  let dir: string;
  let listener: ChildProcess;
  let output = '';

  before(async () => {
    dir = mkdtempSync('/var/tmp/pycell-unix-');
    chmodSync(dir, 0o755);
    // A host service on a world-connectable socket, as /run/docker.sock or a database's socket can be.
    const code = String.raw`
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(8)
print('READY', flush=True)
while True:
    c, _ = s.accept(); print('ACCEPTED', flush=True); c.close()
`;
    listener = spawn('/usr/bin/python3', ['-I', '-c', code, join(dir, 'service.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
    listener.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    assert.ok(await waitFor(() => output.includes('READY'), 5000), 'the host socket listener did not start');
  });
  after(() => {
    listener?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('an operator bind that holds a unix socket is refused at start-up, naming the socket', async () => {
    const refused = spawnSync(process.execPath, [cliPath(), 'serve', '--stdio', '--ro-bind', `${dir}:/data`], { input: '', encoding: 'utf8', timeout: 20_000 });
    if (refused.status !== 0) {
      assert.match(refused.stderr, /config readOnlyBinds: \S+ holds a unix socket \(\S*service\.sock\)/);
      return;
    }
    const broker = await startBroker({ args: ['--ro-bind', `${dir}:/data`] });
    // The defence is gone: show what it was for, then fail.
    try {
      const { data } = await probe<{ r: string }>(broker, "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('/data/service.sock'); r = 'CONNECTED'\nexcept OSError as e:\n    r = str(e)\nemit({'r': r})");
      assert.fail(`the broker started with a socket bound in; connect from the sandbox: ${data.r}`);
    } finally {
      await broker.close();
    }
  });

  it('a bind whose source is a symlink to such a directory is refused too (bwrap binds the target)', () => {
    const link = join(dir, '..', `${dir.split('/').at(-1)}-link`);
    symlinkSync(dir, link);
    try {
      const refused = spawnSync(process.execPath, [cliPath(), 'serve', '--stdio', '--ro-bind', `${link}:/data`], { input: '', encoding: 'utf8', timeout: 20_000 });
      assert.notEqual(refused.status, 0, 'the broker started');
      assert.match(refused.stderr, /holds a unix socket \(\S*service\.sock\)/);
    } finally {
      unlinkSync(link);
    }
  });

  it('without operator binds, no socket file is visible in the sandbox outside /proc and the host /usr', async () => {
    const broker = await startBroker();
    try {
      const code = "import os, stat\nfound = []\nfor top, dirs, files in os.walk('/'):\n    if top == '/':\n        dirs[:] = [d for d in dirs if d not in ('proc', 'usr')]\n    for name in files + dirs:\n        try:\n            if stat.S_ISSOCK(os.lstat(os.path.join(top, name)).st_mode): found.append(os.path.join(top, name))\n        except OSError:\n            pass\nemit({'sockets': found})";
      const { data } = await probe<{ sockets: string[] }>(broker, code);
      assert.deepEqual(data.sockets, []);
    } finally {
      await broker.close();
    }
  });
});
