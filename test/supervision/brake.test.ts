import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { leftovers, statusWhen, startBroker, waitFor, type SecurityBroker } from '../security/harness.js';

/**
 * A host that stops being able to start sandboxes while the broker runs (bubblewrap broken, the
 * interpreter gone): the respawn brake stops the loop, queued and new requests fail with the real
 * reason, and the pool recovers by itself, with back-off, once starting works again.
 */
describe('supervision: the respawn brake and recovery', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync('/var/tmp/pycell-brake-');
    chmodSync(dir, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Uses up the warm pool so that every later execute needs a newly started sandbox (answers do not matter). */
  async function drain(broker: SecurityBroker, size: number): Promise<void> {
    await Promise.allSettled(Array.from({ length: size }, () => broker.execute({ code: 'pass' })));
  }

  async function scenario(broker: SecurityBroker, breakIt: () => void, fixIt: () => void, reason: RegExp): Promise<void> {
    // Break it only once the pool is warm: a sandbox still starting would fail with the breakage.
    await statusWhen(broker, (s) => s.workers.idle === 2, 10_000);
    try {
      breakIt();
      await drain(broker, 2);
      const braked = await statusWhen(broker, (s) => s.unavailable !== null, 15_000);
      assert.match(braked.unavailable!, reason);
      const failuresAtBrake = braked.counters.startFailures;
      // New requests fail at once, with the host's own words.
      const started = performance.now();
      const error = await broker.execute({ code: 'print(1)' }).then(() => undefined, (e: Error & { code?: number }) => e);
      assert.ok(error, 'an execute ran while sandboxes could not start');
      assert.equal(error.code, -32010);
      assert.match(error.message, reason);
      assert.ok(performance.now() - started < 1000, 'the refusal was not immediate');
      // The brake spaces out its attempts: over a second, only a few more start failures, not a tight loop.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const later = await broker.client.status();
      assert.ok(later.counters.startFailures - failuresAtBrake <= 3, `start failures went from ${failuresAtBrake} to ${later.counters.startFailures} in 1 s`);
    } finally {
      fixIt();
    }
    const fixedAt = performance.now();
    const recovered = await statusWhen(broker, (s) => s.unavailable === null && s.workers.idle === 2, 20_000);
    console.log(`      recovered ${(performance.now() - fixedAt).toFixed(0)} ms after the fix (${recovered.counters.startFailures} start failures in all)`);
    assert.equal((await broker.execute({ code: 'print(6*7)' })).stdout, '42\n');
  }

  it('bubblewrap broken at run time (a wrapper that fails while a flag file exists), then fixed', async () => {
    const flag = join(dir, 'broken');
    const wrapper = join(dir, 'bwrap');
    const bwrap = execFileSync('/bin/sh', ['-c', 'command -v bwrap'], { encoding: 'utf8' }).trim();
    writeFileSync(wrapper, `#!/bin/sh\nif [ -e ${flag} ]; then echo "bwrap: simulated breakage: $(cat ${flag})" >&2; exit 1; fi\nexec ${bwrap} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const broker = await startBroker({ args: ['--bwrap', wrapper, '--pool-size', '2'] });
    try {
      await scenario(broker, () => writeFileSync(flag, 'setuid bit lost'), () => unlinkSync(flag), /bwrap: simulated breakage: setuid bit lost/);
    } finally {
      await broker.close();
    }
    assert.ok(await waitFor(() => leftovers(broker.pid, 0, broker.init.capabilities.isolation.sandboxUids!).length === 0, 3000));
  });

  it('the interpreter gone at run time (a virtualenv whose python was removed), then restored', async () => {
    const venv = join(dir, 'venv');
    execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', venv]);
    const python = join(venv, 'bin', 'python3');
    const target = join(venv, 'bin', 'python3.moved');
    const broker = await startBroker({ args: ['--python', join(venv, 'bin', 'python'), '--pool-size', '2'] });
    try {
      await scenario(broker, () => renameSync(python, target), () => {
        if (existsSync(target)) renameSync(target, python);
        else symlinkSync('/usr/bin/python3', python);
      }, /execvp .*python.*: No such file or directory/);
    } finally {
      await broker.close();
    }
  });
});
