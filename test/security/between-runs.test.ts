import assert from 'node:assert/strict';
import { startBroker, type SecurityBroker } from './harness.js';

/**
 * THREATS, between runs: files left in /tmp or the work dir, module and builtins state, hooks planted
 * for the next run, env mutation, code planted for later interpreters (usercustomize, .pth,
 * __pycache__). Every stateless run gets a fresh sandbox and a fresh interpreter, so nothing one run
 * plants may be seen by any later run, whichever warm worker serves it.
 */
describe('security: nothing carries over between stateless runs', function () {
  this.timeout(60_000);
  let broker: SecurityBroker;
  before(async () => {
    broker = await startBroker();
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
    const planted = await broker.execute({ code: PLANT });
    assert.equal(planted.status, 'ok', JSON.stringify(planted).slice(0, 500));
    assert.doesNotMatch(planted.stdout, /WROTE/, 'wrote into the agent or /usr');
    // More runs than warm workers: every worker of the pool serves at least one.
    const checks = await Promise.all(Array.from({ length: 6 }, () => broker.execute({ code: CHECK })));
    await new Promise((resolve) => setTimeout(resolve, 400));
    for (const result of checks) {
      assert.equal(result.stdout, 'FOUND []\n', JSON.stringify(result).slice(0, 500));
      assert.doesNotMatch(result.stdout + result.stderr, /PLANTED-(ATEXIT|THREAD)/);
    }
  });

  it('catastrophic regex backtracking, a C loop that never checks for signals, is stopped by cpu_limit', async () => {
    const result = await broker.execute({ code: 'import re\nre.match(r"(a+)+$", "a" * 64 + "b")', limits: { cpuMs: 500, timeoutMs: 20_000 } });
    assert.equal(result.status, 'cpu_limit', JSON.stringify(result).slice(0, 500));
    assert.ok(result.usage.wallMs < 5000, `${result.usage.wallMs} ms`);
  });
});
