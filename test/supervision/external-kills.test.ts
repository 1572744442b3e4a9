import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import type { ExecuteResult, StatusResult } from '../../src/client/index.js';
import { leftovers, scanHost, settled, startBroker, statusWhen, subtree, waitFor, type HostProc, type SecurityBroker } from '../security/harness.js';

/**
 * Kills from outside (kill -9 of the agent, of bubblewrap's init inside the sandbox, of the outer
 * bubblewrap, of every process at once), during a run and while idle: every request is answered once
 * ("crashed", saying the worker was lost), the pool refills, and the time it takes is measured.
 */
describe('supervision: workers killed from outside', function () {
  this.timeout(60_000);
  const POOL = 2;
  let broker: SecurityBroker;
  before(async () => {
    broker = await startBroker({ args: ['--pool-size', String(POOL)] });
    await settled(broker);
  });
  after(async () => {
    await broker?.close();
    const uids = broker.init.capabilities.isolation.sandboxUids!;
    assert.ok(await waitFor(() => leftovers(broker.pid, 0, uids).length === 0, 3000), 'processes left behind');
  });

  /** The host processes of the sandbox whose pid namespace is `pidns`: outer bwrap, init, agent, children. */
  function sandboxOf(pidns: string): { outer: HostProc; init: HostProc; agent: HostProc; all: HostProc[] } {
    const all = scanHost();
    for (const outer of subtree(broker.pid, all).filter((p) => p.ppid === broker.pid)) {
      const tree = subtree(outer.pid, all);
      const inside = tree.filter((p) => {
        try {
          return readlinkSync(`/proc/${p.pid}/ns/pid`) === pidns;
        } catch {
          return false;
        }
      });
      if (inside.length === 0) continue;
      const init = inside.find((p) => p.ppid === outer.pid)!;
      const agent = inside.find((p) => p.cmdline.includes('/pycell/agent/main.py'))!;
      return { outer, init, agent, all: tree };
    }
    throw new Error(`no sandbox with pid namespace ${pidns}`);
  }

  async function poolFull(): Promise<{ status: StatusResult; ms: number }> {
    const started = performance.now();
    for (;;) {
      const status = await broker.client.status();
      if (status.workers.idle === POOL && status.workers.starting === 0) return { status, ms: performance.now() - started };
      assert.ok(performance.now() - started < 10_000, `the pool did not refill: ${JSON.stringify(status.workers)}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  const targets: [string, (s: ReturnType<typeof sandboxOf>) => number[]][] = [
    ['the agent', (s) => [s.agent.pid]],
    ["bubblewrap's init (pid 1 inside)", (s) => [s.init.pid]],
    ['the outer bubblewrap', (s) => [s.outer.pid]],
    ['every process of the sandbox at once', (s) => s.all.map((p) => p.pid)],
  ];
  for (const [name, pick] of targets) {
    it(`kill -9 of ${name} mid-run: "crashed", the worker was lost; the pool refills (time printed)`, async () => {
      await settled(broker);
      const before = (await broker.client.status()).counters.workersLost;
      let killedAt = 0;
      let killError: Error | undefined;
      let seen = ''; // print() under -u writes "NS", " ", the path and "\n" separately: they may arrive apart
      const result: ExecuteResult = await broker.execute(
        { code: 'import os, time\nprint("NS", os.readlink("/proc/self/ns/pid"), flush=True)\ntime.sleep(30)', outputToken: 'k', limits: { timeoutMs: 20_000 } },
        {
          onOutput: (_stream, text) => {
            seen += text;
            const match = /NS (\S+)\n/.exec(seen);
            if (!match || killedAt) return;
            killedAt = performance.now();
            try {
              let killed = 0;
              for (const pid of pick(sandboxOf(match[1]!))) {
                try {
                  process.kill(pid, 'SIGKILL');
                  killed += 1;
                } catch (error) {
                  // Killing several at once: one may already have died with the pid namespace's init.
                  if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
                }
              }
              if (killed === 0) throw new Error('every target was already gone');
            } catch (error) {
              killError = error as Error;
            }
          },
        },
      );
      assert.equal(killError, undefined, `could not kill ${name}: ${killError?.message}`);
      const answeredMs = performance.now() - killedAt;
      assert.ok(killedAt > 0, `the run never started: ${JSON.stringify(result).slice(0, 600)}`);
      assert.equal(result.status, 'crashed', JSON.stringify(result).slice(0, 500));
      assert.match(result.message!, /^the worker was lost: it (exited with code \d+|was killed by SIGKILL) before reporting a result, and the broker did not kill it$/);
      const { ms } = await poolFull();
      // A loss is counted when the sandbox's teardown ends, which the answer does not wait for.
      const status = await statusWhen(broker, (s) => s.counters.workersLost >= before + 1, 3000);
      assert.equal(status.counters.workersLost, before + 1);
      console.log(`      answered ${answeredMs.toFixed(1)} ms after the kill; pool full again ${(ms + answeredMs).toFixed(1)} ms after it`);
    });
  }

  it('kill -9 of an idle warm sandbox: replaced, counted lost, and the next execute runs normally', async () => {
    await settled(broker);
    const before = (await broker.client.status()).counters;
    const all = scanHost();
    const outer = subtree(broker.pid, all).find((p) => p.ppid === broker.pid && p.comm === 'bwrap')!;
    const killedAt = performance.now();
    process.kill(outer.pid, 'SIGKILL');
    assert.ok(await waitFor(() => !scanHost().has(outer.pid), 2000));
    const { status, ms } = await poolFull();
    console.log(`      pool full again ${(performance.now() - killedAt).toFixed(1)} ms after the kill (${ms.toFixed(1)} ms of waiting)`);
    assert.equal(status.counters.workersLost, before.workersLost + 1);
    assert.equal(status.counters.respawns, before.respawns + 1);
    assert.equal((await broker.execute({ code: 'print(6*7)' })).stdout, '42\n');
  });

  it('a session whose worker is killed mid-run answers "crashed" with sessionRestarted, and the next execute runs on a fresh worker', async () => {
    const session = await broker.client.openSession();
    try {
      await session.execute('x = 1');
      let killed = false;
      let seen = '';
      const result = await session.execute('import os, time\nprint("NS", os.readlink("/proc/self/ns/pid"), flush=True)\ntime.sleep(30)', {
        limits: { timeoutMs: 20_000 },
        onOutput: (_stream, text) => {
          seen += text;
          const match = /NS (\S+)\n/.exec(seen);
          if (!match || killed) return;
          killed = true;
          process.kill(sandboxOf(match[1]!).agent.pid, 'SIGKILL');
        },
      });
      assert.equal(result.status, 'crashed', JSON.stringify(result).slice(0, 500));
      assert.equal(result.sessionRestarted, true);
      const next = await session.execute('print("x" in globals())');
      assert.equal(next.stdout, 'False\n');
    } finally {
      await session.close();
    }
  });
});
