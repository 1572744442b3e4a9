import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertGuardPassed, guarded } from './guard.js';
import { scanHost, settled, startBroker, subtree, type SecurityBroker } from './harness.js';

const MiB = 1024 * 1024;

/**
 * THREATS: per-process rlimits multiplied by forking (CPU, memory), and RAM held in tmpfs, /dev/shm or
 * memfds that RSS and RLIMIT_AS do not see. Both whole-sandbox mechanisms are attacked: the per-sandbox
 * cgroup (the default where the host offers one) and the monitor's sum (--cgroups off). The tmpfs
 * mounts are made larger than memoryBytes so that only the memory limit can stop the fills.
 */
const modes = [
  { name: 'per-sandbox cgroup', args: [] as string[], memory: 'cgroup' },
  { name: 'monitor sum (--cgroups off)', args: ['--cgroups', 'off'], memory: 'monitor' },
] as const;

const LIMITS = { memoryBytes: 128 * MiB, maxFileBytes: 512 * MiB, timeoutMs: 8000 };
const fill = (path: string): string =>
  `f = open(${JSON.stringify(path)}, "wb")\nfor i in range(300):\n    f.write(b"x" * (1 << 20))\nf.close()\nimport time\ntime.sleep(1)\nprint("KEPT 300 MiB")`;

for (const mode of modes) {
  describe(`security: whole-sandbox limits — ${mode.name}`, function () {
    this.timeout(60_000);
    let broker: SecurityBroker;
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'pycell-resources-'));
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ workspaceBytes: 512 * MiB, shmBytes: 512 * MiB }));
      broker = await startBroker({ args: ['--config', config, ...mode.args] });
    });
    after(async () => {
      await broker?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it(`initialize says memory is held by the ${mode.memory}`, () => {
      assert.equal(broker.init.capabilities.isolation.sandboxLimits.memory, mode.memory);
      assert.equal(broker.init.capabilities.isolation.cgroups.active, mode.memory === 'cgroup');
    });

    const hidden: [string, string][] = [
      ['a file in the working directory (tmpfs)', fill('/tmp/fill')],
      ['a file in /dev/shm', fill('/dev/shm/fill')],
      ['a memfd', 'import os, time\nfd = os.memfd_create("fill")\nfor i in range(300):\n    os.write(fd, b"x" * (1 << 20))\ntime.sleep(1)\nprint("KEPT 300 MiB")'],
    ];
    for (const [where, code] of hidden) {
      it(`300 MiB held in ${where} counts against memoryBytes (128 MiB): memory_limit`, async () => {
        const result = await broker.execute({ code, limits: LIMITS });
        assert.equal(result.status, 'memory_limit', JSON.stringify(result).slice(0, 600));
        assert.doesNotMatch(result.stdout, /KEPT/);
      });
    }

    it('inode exhaustion: empty files (kernel memory that no tmpfs size sees) count against memoryBytes', async () => {
      const code = 'import os\nn = 0\nwhile n < 1000000:\n    os.close(os.open("f%d" % n, os.O_CREAT | os.O_WRONLY)); n += 1\nprint("MADE", n)';
      const result = await broker.execute({ code, limits: { ...LIMITS, timeoutMs: 30_000, cpuMs: 30_000 } });
      assert.equal(result.status, 'memory_limit', JSON.stringify(result).slice(0, 600));
      assert.doesNotMatch(result.stdout, /MADE/);
    });

    it('fork × memory: six children of 40 MiB each, every one under RLIMIT_AS, are stopped as one sandbox', async () => {
      const code = guarded(`import os, time
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        block = bytearray(40 << 20)
        for j in range(0, len(block), 4096): block[j] = 1
        time.sleep(3)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print("ALL SIX HELD 240 MiB")`);
      const result = await broker.execute({ code, limits: LIMITS });
      assertGuardPassed(result);
      assert.equal(result.status, 'memory_limit', JSON.stringify(result).slice(0, 600));
      assert.doesNotMatch(result.stdout, /ALL SIX/);
    });

    it('fork × CPU: four spinning children share one cpuMs budget (per-process RLIMIT_CPU would allow each 2 s)', async () => {
      const code = guarded(`import os
for i in range(4):
    if os.fork() == 0:
        while True: pass
os.wait()`);
      const result = await broker.execute({ code, limits: { cpuMs: 1000, timeoutMs: 20_000 } });
      assertGuardPassed(result);
      assert.equal(result.status, 'cpu_limit', JSON.stringify(result).slice(0, 600));
      // Two cores: 1 s of CPU across four spinners is reached in about 0.5 s of wall time.
      assert.ok(result.usage.wallMs < 3000, `stopped after ${result.usage.wallMs} ms of wall time`);
      assert.ok(result.usage.cpuMs >= 1000, `cpuMs ${result.usage.cpuMs}`);
    });

    it('maxProcesses belongs to each sandbox: two concurrent runs can each start maxProcesses - 4 children', async () => {
      // With one shared uid and no cgroup, RLIMIT_NPROC would count both runs (and the warm pool) together.
      const code = guarded(`import os, time
started = 0
for i in range(12):
    try:
        pid = os.fork()
    except OSError as e:
        print("fork failed after", started, e)
        break
    if pid == 0:
        time.sleep(1.5)
        os._exit(0)
    started += 1
print("started", started)`);
      const limits = { maxProcesses: 16, timeoutMs: 10_000 };
      const results = await Promise.all([broker.execute({ code, limits }), broker.execute({ code, limits })]);
      for (const result of results) {
        assertGuardPassed(result);
        assert.match(result.stdout, /^started 12$/m, JSON.stringify(result).slice(0, 600));
      }
    });

    if (mode.memory === 'cgroup') {
      it('every sandbox process sits in a pycell cgroup of this broker, in the memory and pids hierarchies', async () => {
        await settled(broker);
        const all = scanHost();
        const inside = subtree(broker.pid, all).filter((p) => p.pid !== broker.pid);
        assert.ok(inside.length >= 3, 'expected warm sandboxes');
        for (const p of inside) {
          const cgroups = readFileSync(`/proc/${p.pid}/cgroup`, 'utf8');
          for (const controller of ['memory', 'pids']) {
            const line = cgroups.split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller)) ?? cgroups.split('\n').find((l) => l.startsWith('0::'));
            assert.match(line ?? '', new RegExp(`/pycell-${broker.pid}-\\d+$`), `${p.comm} ${p.pid}: ${controller} → ${line}`);
          }
        }
      });
    }

    it('the broker keeps serving after every one of these', async () => {
      assert.equal((await broker.execute({ code: 'print(1+1)' })).stdout, '2\n');
    });
  });
}
