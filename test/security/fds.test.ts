import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childrenOf, EMIT, hostFds, JSON_MARK, probe, randomTag, scanHost, startBroker, type SecurityBroker } from './harness.js';

/**
 * THREATS: inherited file descriptors — any fd the broker holds that it did not explicitly hand to the
 * sandbox (issue 2: "only the pipes the broker means to hand over reach the sandbox; never the broker's
 * stdin/stdout"). The broker here is started holding one extra descriptor, a host file open at fd 50
 * without close-on-exec, as a supervisor script or editor that leaks an fd into its children leaves it.
 */
describe('security: file descriptors inside the sandbox', function () {
  this.timeout(30_000);
  const tag = randomTag();
  const hostFile = join(tmpdir(), `pycell-fd-secret-${tag}`);
  const hostContent = `host-fd-secret-${tag}`;
  let broker: SecurityBroker;

  before(async () => {
    writeFileSync(hostFile, hostContent, { mode: 0o600 }); // root-only on the host
    broker = await startBroker({ leakedFile: { fd: 50, path: hostFile } });
    // The premise: the broker was started holding the host file at fd 50, inheritable (no O_CLOEXEC).
    // Either it still holds it (no defence: the tests below must then catch the leak), or it closed it at
    // start and its log says so (the defence). Neither means the wrapper failed and the tests prove nothing.
    const deadline = Date.now() + 3000;
    const closedLine = (): string | undefined => broker.stderr().split('\n').find((l) => l.includes('closed inherited file descriptors'));
    while (!closedLine() && hostFds(broker.pid).get(50) !== hostFile && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const line = closedLine();
    if (line) assert.ok((JSON.parse(line).closed as { fd: number; target: string }[]).some((c) => c.fd === 50 && c.target === hostFile), line);
    else assert.equal(hostFds(broker.pid).get(50), hostFile, 'the broker never held the leaked fd: the premise of these tests does not hold');
  });
  after(async () => {
    await broker?.close();
    rmSync(hostFile, { force: true });
  });

  const listFds = String.raw`
import os
def fds(pid):
    out = {}
    for name in os.listdir('/proc/%s/fd' % pid):
        try:
            out[name] = os.readlink('/proc/%s/fd/%s' % (pid, name))
        except OSError:
            pass  # the descriptor listdir itself used, already closed
    return out
`;

  it('the agent holds exactly fds 0-4, and they are the sockets the broker handed to bubblewrap — not its own stdin/stdout', async () => {
    let hostView: { broker: Map<number, string>; sandboxes: Map<number, string>[] } | undefined;
    const code = `${EMIT}${listFds}\nimport time\nemit({'fds': fds('self')})\ntime.sleep(1.0)\n`;
    const result = await broker.execute({ code }, {
      onOutput: (stream, text) => {
        // The sandbox is still alive (sleeping): look at the host side of the same descriptors now.
        if (stream !== 'stdout' || !text.includes(JSON_MARK) || hostView) return;
        const all = scanHost();
        const outer = (childrenOf(all).get(broker.pid) ?? []).filter((p) => p.comm === 'bwrap');
        hostView = { broker: hostFds(broker.pid), sandboxes: outer.map((p) => hostFds(p.pid)) };
      },
    });
    assert.equal(result.status, 'ok', JSON.stringify(result));
    const fds = JSON.parse(result.stdout.split('\n').find((l) => l.startsWith(JSON_MARK))!.slice(JSON_MARK.length)).fds as Record<string, string>;
    assert.deepEqual(Object.keys(fds).map(Number).sort((a, b) => a - b), [0, 1, 2, 3, 4], `fds inside the sandbox: ${JSON.stringify(fds)}`);
    assert.ok(hostView, 'did not see the streamed output while the sandbox was alive');
    const brokerStdio = [0, 1, 2].map((fd) => hostView!.broker.get(fd));
    for (const [fd, target] of Object.entries(fds)) {
      assert.match(target, /^(socket|pipe):\[\d+\]$/, `fd ${fd} -> ${target}`);
      assert.ok(!brokerStdio.includes(target), `fd ${fd} is the broker's own stdio (${target})`);
    }
    // fds 0-2 are the very sockets the broker gave one bubblewrap process (the outer bubblewrap keeps
    // those to relay; it closes 3 and 4 after handing them on, so only 0-2 can be matched on the host).
    const handed = hostView.sandboxes.map((m) => [0, 1, 2].map((fd) => m.get(fd)).join(' '));
    assert.ok(handed.includes([0, 1, 2].map((fd) => fds[fd]).join(' ')), `inside ${JSON.stringify(fds)} vs handed ${JSON.stringify(handed)}`);
    // And nothing the broker itself has open (its stdio, its files) is open inside.
    const brokerTargets = new Set(hostView.broker.values());
    assert.deepEqual(Object.values(fds).filter((t) => brokerTargets.has(t)), []);
  });

  it('no fd of any process inside points to a host path or yields the host file', async () => {
    const code = `${listFds}
leaks = {}
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    try:
        table = fds(pid)
    except OSError as e:
        continue
    for name, target in table.items():
        if target.startswith('/') and target not in ('/dev/null',):
            entry = {'target': target}
            if pid == str(os.getpid()):
                try:
                    entry['content'] = os.pread(int(name), 200, 0).decode('latin1')
                except OSError as e:
                    entry['content_error'] = e.errno
            leaks['%s:%s' % (pid, name)] = entry
emit({'leaks': leaks})
`;
    const { data } = await probe<{ leaks: Record<string, { target: string; content?: string }> }>(broker, code);
    assert.deepEqual(data.leaks, {}, `host files open inside the sandbox: ${JSON.stringify(data.leaks)}`);
  });

  it("pid 1 (bubblewrap's init) holds only the run's own descriptors", async () => {
    const code = `${listFds}\ntry:\n    init = fds(1)\nexcept OSError as e:\n    init = {'error': e.errno}\nemit({'init': init, 'agent': fds('self')})\n`;
    const { data } = await probe<{ init: Record<string, string | number>; agent: Record<string, string> }>(broker, code);
    if ('error' in data.init) return; // unreadable is fine too
    const agentTargets = new Set(Object.values(data.agent));
    for (const [fd, target] of Object.entries(data.init)) {
      assert.ok(typeof target === 'string' && (agentTargets.has(target) || target.startsWith('anon_inode:')), `init fd ${fd} -> ${target} (agent: ${JSON.stringify(data.agent)})`);
    }
  });

  it('a subprocess of user code gets only 0, 1 and 2 (the control channel is not inherited)', async () => {
    const code = String.raw`
import subprocess
out = subprocess.run(['/usr/bin/python3', '-I', '-c', 'import os; print(sorted(int(f) for f in os.listdir("/proc/self/fd")))'], capture_output=True, text=True, close_fds=False)
emit({'fds': out.stdout.strip(), 'err': out.stderr})
`;
    const { data } = await probe<{ fds: string; err: string }>(broker, code);
    // [0, 1, 2] plus the one listdir used while listing.
    assert.equal(data.fds, '[0, 1, 2, 3]', `child fds: ${data.fds} ${data.err}`);
  });
});
