import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { assertGuardPassed, guarded } from './guard.js';
import {
  bootTicks, childrenOf, hostProcessesMentioning, isIdleWarmSandbox, leftovers, randomTag, scanHost, settled, startBroker, subtree, waitFor, type HostProc, type SecurityBroker,
} from './harness.js';

/**
 * THREATS: fork bombs, thread bombs; double-fork + setsid daemons that outlive the run or hold its
 * output pipes open; clearing the parent-death signal; signals to the parent, to pid 1, to everyone.
 * Issue 2: maxProcesses is RLIMIT_NPROC; killing a sandbox kills every process in it (nothing survives);
 * --die-with-parent. Every payload here is destructive and runs only behind the guard (guard.ts).
 */
describe('security: processes cannot outlive or escape their run', function () {
  this.timeout(30_000);
  let broker: SecurityBroker;
  let sandboxUids: { first: number; count: number };

  before(async () => {
    broker = await startBroker();
    sandboxUids = broker.init.capabilities.isolation.sandboxUids!;
    assert.ok(sandboxUids.first > 0);
  });
  after(async () => broker?.close());

  /** Fails when anything of the sandbox uid, started since `since`, is left beyond the idle warm pool. */
  async function assertNothingLeft(since: number, marker?: string): Promise<void> {
    await settled(broker);
    let left: HostProc[] = [];
    const clean = await waitFor(() => {
      left = leftovers(broker.pid, since, sandboxUids);
      if (marker) left.push(...hostProcessesMentioning(marker));
      return left.length === 0;
    }, 3000);
    assert.ok(clean, `processes left on the host after the run: ${JSON.stringify(left.map((p) => ({ pid: p.pid, ppid: p.ppid, comm: p.comm, cmdline: p.cmdline.slice(0, 120) })))}`);
  }

  it('a fork bomb (capped at 2000 forks) is stopped by RLIMIT_NPROC = maxProcesses, and nothing of it survives the run', async () => {
    const tag = `pycf${randomTag().slice(-8)}`;
    const code = guarded(String.raw`
import os, time
forked, failure = 0, None
for i in range(2000):
    try:
        pid = os.fork()
    except OSError as e:
        failure = e.errno
        break
    if pid == 0:
        try:
            with open('/proc/self/comm', 'w') as f:
                f.write(TAG)
            # every child is a bomb too, but only a few rounds each
            for _ in range(3):
                try:
                    if os.fork() == 0:
                        with open('/proc/self/comm', 'w') as f:
                            f.write(TAG)
                        time.sleep(30)
                        os._exit(0)
                except OSError:
                    pass
            time.sleep(30)
        finally:
            os._exit(0)
    forked += 1
print('FORKED', forked, 'ERRNO', failure, flush=True)
`).replaceAll('TAG', JSON.stringify(tag));
    const since = bootTicks() - 1;
    const result = await broker.execute({ code, limits: { maxProcesses: 16, timeoutMs: 10_000 } });
    assertGuardPassed(result);
    const match = /FORKED (\d+) ERRNO (\S+)/.exec(result.stdout);
    assert.ok(match, JSON.stringify(result).slice(0, 1000));
    assert.equal(match[2], '11', 'fork did not fail with EAGAIN'); // EAGAIN from RLIMIT_NPROC
    assert.ok(Number(match[1]) < 16, `${match[1]} forks with maxProcesses 16`);
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 1000));
    assert.ok(result.usage.wallMs < 10_000);
    await assertNothingLeft(since, tag);
    assert.equal((await broker.execute({ code: 'print(1+1)' })).stdout, '2\n', 'the broker does not serve after the bomb');
  });

  it('a thread bomb (capped at 2000 threads) is stopped by RLIMIT_NPROC too', async () => {
    const code = guarded(String.raw`
import threading, time
started, failure = 0, None
for i in range(2000):
    try:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    except RuntimeError as e:
        failure = str(e)
        break
    started += 1
print('THREADS', started, 'FAILURE', failure, flush=True)
`);
    const since = bootTicks() - 1;
    const result = await broker.execute({ code, limits: { maxProcesses: 16 } });
    assertGuardPassed(result);
    const match = /THREADS (\d+) FAILURE (.*)/.exec(result.stdout);
    assert.ok(match, JSON.stringify(result).slice(0, 1000));
    assert.ok(Number(match[1]) < 16, `${match[1]} threads with maxProcesses 16`);
    assert.match(match[2]!, /can't start new thread/);
    assert.equal(result.status, 'ok');
    await assertNothingLeft(since);
  });

  it('kill(-1, SIGKILL) and signals to pid 1 reach only the sandbox: host processes of the same uid, other sandboxes and the broker live on', async () => {
    await settled(broker);
    // A host process running as a sandbox uid: kill(-1) inside must not reach it.
    const bystander = spawn('/usr/bin/sleep', ['30'], { uid: sandboxUids.first, gid: sandboxUids.first, stdio: 'ignore' });
    const all = scanHost();
    const warmAgents = (childrenOf(all).get(broker.pid) ?? [])
      .map((sandbox) => subtree(sandbox.pid, all))
      .filter(isIdleWarmSandbox)
      .map((tree) => tree.find((p) => p.cmdline.includes('/pycell/agent/main.py'))!);
    assert.ok(warmAgents.length >= 2, 'expected two idle warm sandboxes');
    try {
      const code = guarded(String.raw`
import os, signal, time
for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):
    try:
        os.kill(1, sig)          # bubblewrap's init: the kernel protects a namespace's init from its own members
    except OSError as e:
        print('kill(1)', e.errno)
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError as e:
    print('kill(ppid)', e.errno)
print('ALIVE-AFTER-PID1', flush=True)
pid = os.fork()
if pid == 0:
    os.kill(-1, signal.SIGKILL)  # everyone this process may signal: kills the agent
    time.sleep(5)
    os._exit(0)
os.waitpid(pid, 0)
time.sleep(5)
print('AGENT-SURVIVED', flush=True)
`);
      const result = await broker.execute({ code, limits: { timeoutMs: 8000 } });
      assertGuardPassed(result);
      assert.ok(result.stdout.includes('ALIVE-AFTER-PID1'), result.stdout);
      assert.ok(!result.stdout.includes('AGENT-SURVIVED'), 'kill(-1) did not kill the agent');
      assert.equal(result.status, 'crashed', JSON.stringify(result).slice(0, 800));
      assert.ok(result.usage.wallMs < 5000, `the run took ${result.usage.wallMs} ms: it did not end when its agent died`);
      assert.equal(bystander.exitCode, null, 'a host process of the sandbox uid was killed');
      assert.equal(bystander.signalCode, null, 'a host process of the sandbox uid was killed');
      assert.equal(broker.child.exitCode, null, 'the broker died');
      // At most one warm sandbox was used for the run; the other(s) are untouched.
      const alive = warmAgents.filter((agent) => scanHost().get(agent.pid)?.startTime === agent.startTime);
      assert.ok(alive.length >= warmAgents.length - 1, `warm sandboxes killed: ${warmAgents.length - alive.length}`);
      assert.equal((await broker.execute({ code: 'print(1+1)' })).stdout, '2\n', 'the broker does not serve after kill(-1)');
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('a double-forked setsid daemon holding the output pipes neither delays the result, survives the run, nor bleeds into the next result', async () => {
    const tag = `pycell-daemon-${randomTag()}`;
    const daemon = String.raw`
import os, sys, time
time.sleep(2.0)
try:
    os.write(1, b'LATE-STDOUT-' + sys.argv[1].encode() + b'\n')
    os.write(2, b'LATE-STDERR-' + sys.argv[1].encode() + b'\n')
    with open('/tmp/late-' + sys.argv[1], 'w') as f:
        f.write('late')
except OSError:
    pass
time.sleep(30)
`;
    const code = guarded(String.raw`
import os, sys
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-I', '-c', DAEMON, TAG])
    os._exit(0)
os.waitpid(pid, 0)
print('PARENT-DONE', flush=True)
`).replace('DAEMON', JSON.stringify(daemon)).replace('TAG', JSON.stringify(tag));
    const since = bootTicks() - 1;
    const result = await broker.execute({ code });
    assertGuardPassed(result);
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 800));
    assert.equal(result.stdout.split('\n').slice(1).join('\n'), 'PARENT-DONE\n');
    assert.ok(result.usage.wallMs < 1900, `the run waited ${result.usage.wallMs} ms for the daemon holding its pipes`);
    // The daemon is gone on the host at once (it would sleep 32 s).
    assert.ok(await waitFor(() => hostProcessesMentioning(tag).length === 0, 2000), `the daemon survived the run: ${JSON.stringify(hostProcessesMentioning(tag))}`);
    // A run that spans the moment the daemon would have written sees nothing of it.
    const next = await broker.execute({ code: 'import os, time\ntime.sleep(2.5)\nprint(sorted(os.listdir("/tmp")))' });
    assert.equal(next.status, 'ok');
    assert.equal(next.stdout, '[]\n');
    assert.equal(next.stderr, '');
    await assertNothingLeft(since, tag);
  });

  it('a child that clears PR_SET_PDEATHSIG and leaves the session is still killed with its run', async () => {
    const tag = `pycell-nodeath-${randomTag()}`;
    const code = guarded(String.raw`
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
libc.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
pid = os.fork()
if pid == 0:
    os.setsid()
    libc.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    os.closerange(0, 3)
    os.execv(sys.executable, [sys.executable, '-I', '-c', 'import time; time.sleep(30)', TAG])
print('CHILD', pid, flush=True)
`).replace('TAG', JSON.stringify(tag));
    const since = bootTicks() - 1;
    const result = await broker.execute({ code });
    assertGuardPassed(result);
    assert.equal(result.status, 'ok');
    assert.ok(await waitFor(() => hostProcessesMentioning(tag).length === 0, 2000), `the child survived the run: ${JSON.stringify(hostProcessesMentioning(tag))}`);
    await assertNothingLeft(since, tag);
  });

  it('when the broker itself is SIGKILLed mid-run, every sandbox process dies too (--die-with-parent), PDEATHSIG cleared or not', async () => {
    const tag = `pycell-orphan-${randomTag()}`;
    const victim = await startBroker();
    let runtimeDir: string | undefined;
    try {
      const code = guarded(String.raw`
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, 0, 0, 0, 0)   # PR_SET_PDEATHSIG = 0 for the agent itself
for i in range(2):
    if os.fork() == 0:
        os.setsid()
        libc.prctl(1, 0, 0, 0, 0)
        os.execv(sys.executable, [sys.executable, '-I', '-c', 'import time; time.sleep(30)', TAG])
print('STARTED', flush=True)
time.sleep(30)
`).replace('TAG', JSON.stringify(tag));
      let started = false;
      void victim.execute({ code }, { onOutput: (_stream, text) => (started ||= text.includes('STARTED')) }).catch(() => undefined);
      assert.ok(await waitFor(() => started && hostProcessesMentioning(tag).length === 2, 5000), 'the payload did not start');
      const all = scanHost();
      const sandboxPids = subtree(victim.pid, all).filter((p) => p.pid !== victim.pid);
      // The private runtime directory the killed broker cannot remove itself (bound as /pycell/agent).
      runtimeDir = sandboxPids.map((p) => /--ro-bind (\/\S+)\/agent \/pycell\/agent/.exec(p.cmdline)?.[1]).find((d) => d !== undefined);
      assert.ok(sandboxPids.length >= 6, `expected the run's and the warm sandboxes' processes: ${sandboxPids.length}`);
      victim.child.kill('SIGKILL');
      await new Promise((resolve) => victim.child.once('exit', resolve));
      const gone = await waitFor(() => {
        const now = scanHost();
        return sandboxPids.every((p) => now.get(p.pid)?.startTime !== p.startTime) && hostProcessesMentioning(tag).length === 0;
      }, 3000);
      const now = scanHost();
      const survivors = sandboxPids.filter((p) => now.get(p.pid)?.startTime === p.startTime);
      assert.ok(gone, `sandbox processes outlived their broker: ${JSON.stringify(survivors.map((p) => [p.pid, p.comm, p.cmdline.slice(0, 80)]))} ${JSON.stringify(hostProcessesMentioning(tag).map((p) => p.pid))}`);
    } finally {
      if (victim.child.exitCode === null && victim.child.signalCode === null) victim.child.kill('SIGKILL');
      victim.client.connection.dispose(); // its pending execute never gets an answer
      if (runtimeDir && /^\/.+\/pycell-[^/]+$/.test(runtimeDir)) rmSync(runtimeDir, { recursive: true, force: true });
      // Never leave them behind even if the assertion failed.
      for (const p of hostProcessesMentioning(tag)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
});
