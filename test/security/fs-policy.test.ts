import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, type SecurityBroker } from './harness.js';

/**
 * The operator's filesystem policy: extra read-only host paths (a dataset) and another interpreter (a
 * virtualenv whose packages import). Read-only means read-only: the sandbox cannot change the host copy.
 * Fixtures live under /var/tmp: the sandbox mounts its own /tmp over the host's.
 */
describe('security: operator filesystem policy (read-only binds, a virtualenv interpreter)', function () {
  this.timeout(60_000);
  let root: string;
  let broker: SecurityBroker;
  let venv: string;

  before(async () => {
    root = mkdtempSync('/var/tmp/pycell-fs-policy-');
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data', 'rows.csv'), 'a,b\n1,2\n');
    // World-writable on the host: only the read-only bind can stop the sandbox's writes.
    chmodSync(join(root, 'data'), 0o777);
    chmodSync(join(root, 'data', 'rows.csv'), 0o666);
    venv = join(root, 'venv');
    execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', venv]);
    const site = join(venv, 'lib', readdirSync(join(venv, 'lib'))[0]!, 'site-packages');
    writeFileSync(join(site, 'pycell_fixture_pkg.py'), 'ANSWER = 42\n');
    broker = await startBroker({ args: ['--ro-bind', `${join(root, 'data')}:/data`, '--python', join(venv, 'bin', 'python')] });
  });
  after(async () => {
    await broker?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('the bound directory is readable at its sandbox path', async () => {
    const result = await broker.execute({ code: 'print(open("/data/rows.csv").read(), end="")' });
    assert.equal(result.stdout, 'a,b\n1,2\n', JSON.stringify(result).slice(0, 500));
  });

  it('and read-only: writing, creating, removing and renaming fail with EROFS; the host copy is untouched', async () => {
    const code = [
      'import errno, os',
      'def attempt(name, f):',
      '    try:',
      '        f(); print(name, "DONE")',
      '    except OSError as e:',
      '        print(name, errno.errorcode[e.errno])',
      'attempt("write", lambda: open("/data/rows.csv", "a").write("x"))',
      'attempt("create", lambda: open("/data/new.txt", "w"))',
      'attempt("remove", lambda: os.remove("/data/rows.csv"))',
      'attempt("rename", lambda: os.rename("/data/rows.csv", "/data/moved.csv"))',
      'attempt("chmod", lambda: os.chmod("/data/rows.csv", 0o777))',
    ].join('\n');
    const result = await broker.execute({ code });
    assert.equal(result.stdout, 'write EROFS\ncreate EROFS\nremove EROFS\nrename EROFS\nchmod EROFS\n', JSON.stringify(result).slice(0, 500));
    assert.equal(readFileSync(join(root, 'data', 'rows.csv'), 'utf8'), 'a,b\n1,2\n');
    assert.deepEqual(readdirSync(join(root, 'data')), ['rows.csv']);
  });

  it("the virtualenv is the interpreter: its site-packages import, and sys.prefix is the venv's", async () => {
    const result = await broker.execute({ code: 'import sys, pycell_fixture_pkg\nprint(pycell_fixture_pkg.ANSWER, sys.prefix == sys.base_prefix, sys.prefix)' });
    assert.equal(result.stdout, `42 False ${venv}\n`, JSON.stringify(result).slice(0, 500));
    assert.equal(broker.init.capabilities.python.executable, join(venv, 'bin', 'python'));
  });

  it("and the virtualenv is read-only too: user code cannot plant a .pth or usercustomize for later interpreters", async () => {
    const code = [
      'import errno, sys, sysconfig',
      'site = sysconfig.get_paths()["purelib"]',
      'for name in ("evil.pth", "usercustomize.py", "sitecustomize.py"):',
      '    try:',
      '        open(site + "/" + name, "w").write("import os"); print(name, "PLANTED")',
      '    except OSError as e:',
      '        print(name, errno.errorcode[e.errno])',
    ].join('\n');
    const result = await broker.execute({ code });
    assert.equal(result.stdout, 'evil.pth EROFS\nusercustomize.py EROFS\nsitecustomize.py EROFS\n', JSON.stringify(result).slice(0, 500));
  });
});
