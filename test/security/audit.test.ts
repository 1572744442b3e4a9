import assert from 'node:assert/strict';
import type { ExecuteResult } from '../../src/client/index.js';
import { startBroker, type SecurityBroker } from './harness.js';

const events = (result: ExecuteResult): string[] => (result.audit?.events ?? []).map((e) => `${e.event} ${e.detail}`);

/**
 * The agent's PEP 578 audit hook and the operator's module policy. Both are advisory (user code shares
 * the interpreter with them and native code bypasses them) and labelled so; these tests show that they
 * do what they claim for ordinary code, not that they are a boundary (the OS layers are).
 */
describe('security: audit trail and module policy (advisory)', function () {
  this.timeout(60_000);
  let broker: SecurityBroker;
  let strict: SecurityBroker;
  before(async () => {
    [broker, strict] = await Promise.all([
      startBroker(),
      startBroker({ args: ['--deny-module', 'socket', '--deny-module', 'ctypes', '--allow-module', 'math', '--allow-module', 'json', '--allow-module', 'http'] }),
    ]);
  });
  after(async () => Promise.all([broker?.close(), strict?.close()]));

  it('initialize labels both advisory', () => {
    const { isolation } = broker.init.capabilities;
    assert.equal(isolation.audit.advisory, true);
    assert.deepEqual(isolation.modulePolicy, { advisory: true, deny: [], allow: null });
    assert.ok(isolation.warnings.some((w) => /advisory: ctypes and native code bypass them/.test(w)));
    assert.deepEqual(strict.init.capabilities.isolation.modulePolicy, { advisory: true, deny: ['socket', 'ctypes'], allow: ['math', 'json', 'http'] });
  });

  it('records connects, subprocesses, os.system, ctypes loads and opens outside the working directory — each once, with a count', async () => {
    const code = [
      'import ctypes, os, socket, subprocess',
      'for i in range(3):',
      '    try:',
      '        socket.create_connection(("127.0.0.1", 22), timeout=0.2)',
      '    except OSError:',
      '        pass',
      'subprocess.run(["/bin/true"])',
      'os.system("true")',
      'ctypes.CDLL("libc.so.6")',
      'try:',
      '    open("/etc/shadow")',
      'except OSError:',
      '    pass',
      'open("inside.txt", "w").write("x")',
      'import json, email.parser',
    ].join('\n');
    const result = await broker.execute({ code });
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 800));
    const seen = events(result);
    assert.ok(seen.includes("socket.connect ('127.0.0.1', 22)"), seen.join('\n'));
    assert.equal(result.audit!.events.find((e) => e.event === 'socket.connect')!.count, 3);
    assert.ok(seen.some((e) => e.startsWith('subprocess.Popen') && e.includes('/bin/true')), seen.join('\n'));
    assert.ok(seen.some((e) => e.startsWith('os.system') && e.includes('true')), seen.join('\n'));
    assert.ok(seen.some((e) => e.startsWith('ctypes.dlopen') && e.includes('libc.so.6')), seen.join('\n'));
    assert.ok(seen.includes("open '/etc/shadow', 'r'"), seen.join('\n'));
    // Writes inside the working directory and the interpreter's own imports are not noise in the trail.
    assert.ok(!seen.some((e) => e.includes('inside.txt') || e.includes('/usr/lib/python3')), seen.join('\n'));
    assert.equal(result.audit!.dropped, 0);
  });

  it('is bounded: a flood of distinct events keeps at most 64, and counts the rest as dropped', async () => {
    const result = await broker.execute({ code: 'for i in range(500):\n    try:\n        open("/nonexistent/%d" % i)\n    except OSError:\n        pass' });
    assert.equal(result.audit!.events.length, 64);
    assert.equal(result.audit!.dropped, 500 - 64);
  });

  it('an ordinary run records nothing', async () => {
    const result = await broker.execute({ code: 'import json, re, collections\nprint(json.dumps([1]))' });
    assert.deepEqual(result.audit, { events: [], dropped: 0 });
  });

  it('a denied module is refused with an error that says the policy is advisory, and the refusal is audited', async () => {
    const result = await strict.execute({ code: 'import socket' });
    assert.equal(result.status, 'error');
    assert.equal(result.error!.type, 'ModuleNotFoundError');
    assert.equal(result.error!.message, "import of 'socket' is blocked by the operator's module policy (advisory: this is not a security boundary)");
    assert.ok(events(result).some((e) => e.startsWith('import.denied') && e.includes('socket')), events(result).join('\n'));
  });

  it('a module that imports a denied one is refused too (http.client needs socket)', async () => {
    const result = await strict.execute({ code: 'import http.client' });
    assert.equal(result.status, 'error');
    assert.match(result.error!.message, /import of 'socket' is blocked/);
  });

  it('with an allow list, user code may import only those top-level modules', async () => {
    const allowed = await strict.execute({ code: 'import math, json\nprint(math.floor(2.5), json.dumps(1))' });
    assert.equal(allowed.stdout, '2 1\n', JSON.stringify(allowed).slice(0, 500));
    const refused = await strict.execute({ code: 'import csv' });
    assert.equal(refused.status, 'error');
    assert.match(refused.error!.message, /import of 'csv' is blocked by the operator's module policy/);
  });
});
