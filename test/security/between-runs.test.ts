import assert from 'node:assert/strict';
import { startBroker, type SecurityBroker } from './harness.js';

/**
 * THREATS, between runs: files left in /tmp or the work dir, module and builtins state, hooks planted
 * for the next run, env mutation, code planted for later interpreters (usercustomize, .pth,
 * __pycache__). Nothing one stateless run plants may be seen by any later run, whichever warm worker
 * serves it, in either isolation mode:
 * - sandbox (the default): every run gets a fresh sandbox and a fresh interpreter;
 * - process (--isolation process): every run is a fresh process forked by the fork server of a sandbox
 *   that serves many runs, so the same suite runs with more runs than warm sandboxes and checks that
 *   sandboxes really were reused (process-mode.test.ts has the attacks specific to that mode).
 */
const MODES = [
  { mode: 'sandbox', args: [] as string[] },
  { mode: 'process', args: ['--isolation', 'process'] },
] as const;

/** Who served a run: the pid namespace and the start time of the run's parent (bwrap's init, or the fork server). */
const WHO = String.raw`
import os as _who_os
with open('/proc/%d/stat' % _who_os.getppid()) as _who_f:
    print('WHO %s@%s %d %d' % (_who_os.readlink('/proc/self/ns/pid'), _who_f.read().rsplit(')', 1)[1].split()[19], _who_os.getppid(), _who_os.getpid()))
del _who_os, _who_f
`;

interface Who {
  readonly server: string;
  readonly ppid: number;
  readonly pid: number;
}

/** The WHO line of a run's stdout, and the rest of its stdout. */
function whoOf(stdout: string): { who: Who; rest: string } {
  const match = /^WHO (\S+) (\d+) (\d+)\n/.exec(stdout);
  assert.ok(match, `no WHO line: ${stdout.slice(0, 500)}`);
  return { who: { server: match[1]!, ppid: Number(match[2]), pid: Number(match[3]) }, rest: stdout.slice(match[0].length) };
}

for (const { mode, args } of MODES) describe(`security: nothing carries over between stateless runs (isolation: ${mode})`, function () {
  this.timeout(60_000);
  let broker: SecurityBroker;
  before(async () => {
    broker = await startBroker({ args });
    assert.equal(broker.init.capabilities.isolation.stateless?.default, mode);
  });
  after(() => broker?.close());

  const PLANT = String.raw`
import atexit, builtins, os, sys, threading, time
os.environ['PLANTED_ENV'] = '1'
builtins.PLANTED_BUILTIN = 1
sys.modules['planted_module'] = sys
sys.path.insert(0, '/tmp')
for path, text in [('/tmp/usercustomize.py', 'PLANTED = 1'), ('/tmp/sitecustomize.py', 'PLANTED = 1'),
                   ('/tmp/planted.pth', 'import os; os.environ["PTH"] = "1"'), ('/tmp/json.py', 'PLANTED = 1')]:
    open(path, 'w').write(text)
os.makedirs('/tmp/__pycache__', exist_ok=True)
open('/tmp/__pycache__/planted.cpython-311.pyc', 'wb').write(b'\0' * 16)
for target in ('/pycell/agent/pycell_agent/planted.py', '/usr/lib/python3/dist-packages/planted.pth'):
    try:
        open(target, 'w').write('x')
        print('WROTE', target)
    except OSError:
        pass
atexit.register(lambda: print('PLANTED-ATEXIT'))
threading.Thread(target=lambda: (time.sleep(0.3), print('PLANTED-THREAD', flush=True)), daemon=True).start()
print('planted')
`;

  const CHECK = String.raw`
import builtins, json, os, sys
found = []
if 'PLANTED_ENV' in os.environ or 'PTH' in os.environ: found.append('env')
if hasattr(builtins, 'PLANTED_BUILTIN'): found.append('builtins')
if 'planted_module' in sys.modules: found.append('sys.modules')
if '/tmp' in sys.path: found.append('sys.path')
if hasattr(json, 'PLANTED'): found.append('json shadowed')
for name in ('usercustomize', 'sitecustomize'):
    if name in sys.modules and hasattr(sys.modules[name], 'PLANTED'): found.append(name)
found += ['/tmp/' + n for n in os.listdir('/tmp')]
print('FOUND', sorted(found))
`;

  it('a run that plants env, builtins, modules, .pth/usercustomize/__pycache__ files, an atexit hook and a thread leaves nothing for the next runs', async () => {
    const planted = await broker.execute({ code: WHO + PLANT });
    assert.equal(planted.status, 'ok', JSON.stringify(planted).slice(0, 500));
    assert.doesNotMatch(planted.stdout, /WROTE/, 'wrote into the agent or /usr');
    const plant = whoOf(planted.stdout).who;
    // More runs than warm workers: every worker of the pool serves at least one (in process mode, several).
    const checks = await Promise.all(Array.from({ length: 6 }, () => broker.execute({ code: WHO + CHECK })));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const served: Who[] = [];
    for (const result of checks) {
      const { who, rest } = whoOf(result.stdout);
      served.push(who);
      assert.equal(rest, 'FOUND []\n', JSON.stringify(result).slice(0, 500));
      assert.doesNotMatch(result.stdout + result.stderr, /PLANTED-(ATEXIT|THREAD)/);
    }
    const status = await broker.client.status();
    const seen = JSON.stringify({ plant, served, respawns: status.counters.respawns });
    if (mode === 'sandbox') {
      // Each run is the first process of a pid namespace of its own, under bwrap's init.
      for (const who of [plant, ...served]) assert.deepEqual([who.ppid, who.pid], [1, 2], seen);
    } else {
      // Each run was forked by a fork server (pid 2), and sandboxes were reused: the planting run's
      // sandbox served later checks, and some run was not the first of its sandbox (pid 3 is the first).
      for (const who of [plant, ...served]) assert.equal(who.ppid, 2, seen);
      assert.ok(served.some((who) => who.server === plant.server), `no check ran in the planting run's sandbox: ${seen}`);
      assert.ok(served.length > new Set(served.map((who) => who.server)).size, `no sandbox served two checks: ${seen}`);
      assert.ok(Math.max(...served.map((who) => who.pid)) > 3, seen);
    }
  });

  it('catastrophic regex backtracking, a C loop that never checks for signals, is stopped by cpu_limit', async () => {
    const result = await broker.execute({ code: 'import re\nre.match(r"(a+)+$", "a" * 64 + "b")', limits: { cpuMs: 500, timeoutMs: 20_000 } });
    assert.equal(result.status, 'cpu_limit', JSON.stringify(result).slice(0, 500));
    assert.ok(result.usage.wallMs < 5000, `${result.usage.wallMs} ms`);
  });
});
