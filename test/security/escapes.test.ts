import assert from 'node:assert/strict';
import { startBroker, type SecurityBroker } from './harness.js';

/**
 * THREATS: Python cannot sandbox itself. The classic in-language escapes all *work* inside a worker;
 * the test is that they gain nothing: no host file, no root, no effect beyond their own run.
 */
describe('security: in-language escapes gain nothing', function () {
  this.timeout(30_000);
  let broker: SecurityBroker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker?.close());

  // What a shell reached by any escape sees: not root, no shadow file, no home directories.
  const SHELL = 'id -u; cat /etc/shadow 2>&1 | head -c 80; ls /root /home 2>&1 | head -c 160';
  const expectNothing = (stdout: string): void => {
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^[1-9]\d*$/, `uid: ${stdout}`);
    assert.deepEqual(lines.slice(1), [
      'cat: /etc/shadow: No such file or directory',
      "ls: cannot access '/root': No such file or directory",
      "ls: cannot access '/home': No such file or directory",
    ]);
  };

  it('object.__subclasses__() → os._wrap_close → __init__.__globals__["system"]: a shell as an unprivileged uid with no host files', async () => {
    const code = `
wrap = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]
wrap.__init__.__globals__['system'](${JSON.stringify(SHELL)})`;
    const result = await broker.execute({ code });
    expectNothing(result.stdout);
  });

  it('a pickle gadget (GLOBAL os.system + REDUCE) gets the same shell and no more', async () => {
    const code = `import pickle\npickle.loads(b"cposix\\nsystem\\n(S'${SHELL.replace(/'/g, "\\'")}'\\ntR.")`;
    const result = await broker.execute({ code });
    expectNothing(result.stdout);
  });

  it('frame walking out of a generator reaches the agent\'s own globals, which hold nothing of the host', async () => {
    const code = `
import sys
def gen():
    yield sys._getframe()
frame = next(gen())
seen = set()
while frame is not None:
    seen.update(k for k in frame.f_globals if not k.startswith('__'))
    frame = frame.f_back
import os
print(sorted(os.environ))
print(any('PYCELL' in k or 'SECRET' in k for k in os.environ))
`;
    const result = await broker.execute({ code });
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 500));
    assert.equal(result.stdout.split('\n')[1], 'False');
  });

  it('gc.get_objects() finds only this sandbox\'s objects: no other run\'s code or results', async () => {
    const marker = 'other-run-marker-7f3a';
    const other = broker.execute({ code: `secret = ${JSON.stringify(marker)}\nimport time\ntime.sleep(1)` });
    const result = await broker.execute({ code: `import gc\nprint(any(isinstance(o, str) and '${marker.slice(0, 12)}' + '${marker.slice(12)}' == o for o in gc.get_objects()))` });
    await other;
    assert.equal(result.stdout, 'False\n');
  });

  it('a hand-built code object that crashes the interpreter ends only its own run as "crashed"; the broker serves on', async () => {
    const code = `
import types
def f(): pass
bad = f.__code__.replace(co_code=bytes([100, 255, 83, 0] * 4), co_consts=())  # LOAD_CONST 255 of an empty tuple
print("before", flush=True)
exec(types.FunctionType(bad, {})())`;
    const concurrent = broker.execute({ code: 'import time\ntime.sleep(0.5)\nprint("fine")' });
    const result = await broker.execute({ code });
    assert.equal(result.status, 'crashed', JSON.stringify(result).slice(0, 500));
    assert.equal((await concurrent).stdout, 'fine\n');
    assert.equal((await broker.execute({ code: 'print(6*7)' })).stdout, '42\n');
  });
});
