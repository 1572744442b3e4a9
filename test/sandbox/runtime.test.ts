import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_SOURCE } from '../../src/broker.js';
import { readStat } from '../../src/monitor/procfs.js';
import { makeRuntimeDir, removeStaleRuntimeDirs } from '../../src/sandbox/runtime.js';

describe('sandbox/runtime', () => {
  let parent: string;
  beforeEach(() => {
    parent = mkdtempSync(join(tmpdir(), 'runtime-test-'));
  });
  afterEach(() => rmSync(parent, { recursive: true, force: true }));

  it('copies the agent readable by any uid, without tests or caches, and removes it on dispose', () => {
    const runtime = makeRuntimeDir(AGENT_SOURCE, parent);
    assert.equal(statSync(runtime.path).mode & 0o777, 0o755);
    assert.equal(statSync(join(runtime.agentDir, 'main.py')).mode & 0o777, 0o644);
    assert.equal(existsSync(join(runtime.agentDir, 'tests')), false);
    assert.equal(readFileSync(join(runtime.path, 'owner'), 'utf8'), `${process.pid} ${readStat(process.pid)!.startTime}\n`);
    runtime.dispose();
    assert.equal(existsSync(runtime.path), false);
  });

  it('with the sandbox\'s interpreter, byte-compiles the copy so that a -B agent on a read-only mount does not compile from source', () => {
    const runtime = makeRuntimeDir(AGENT_SOURCE, parent, '/usr/bin/python3');
    const cache = join(runtime.agentDir, 'pycell_agent', '__pycache__');
    const compiled = readdirSync(cache).filter((name) => name.endsWith('.pyc')).map((name) => name.split('.')[0]).sort();
    const sources = readdirSync(join(runtime.agentDir, 'pycell_agent')).filter((name) => name.endsWith('.py')).map((name) => name.slice(0, -3)).sort();
    assert.deepEqual(compiled, sources);
    assert.equal(statSync(cache).mode & 0o777, 0o755);
    runtime.dispose();
  });

  const owners: [string, string | undefined, boolean][] = [
    ['a dead broker (pid beyond pid_max)', '5000001 123', true],
    ['a live process with another start time (a reused pid)', `${process.pid} 1`, true],
    ['this live broker', `${process.pid} ${readStat(process.pid)!.startTime}`, false],
    ['no owner file: not ours to judge', undefined, false],
  ];
  for (const [name, owner, removed] of owners) {
    it(`a leftover dir of ${name} is ${removed ? 'removed' : 'kept'}`, () => {
      const dir = join(parent, 'pycell-leftover');
      mkdirSync(dir);
      if (owner !== undefined) writeFileSync(join(dir, 'owner'), `${owner}\n`);
      assert.deepEqual(removeStaleRuntimeDirs(parent), removed ? [dir] : []);
      assert.equal(existsSync(dir), !removed);
    });
  }
});
