import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

function pycell(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', timeout: 20_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('cli: pycell run and doctor', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pycell-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rows: [string, string, string[], number, string, RegExp | undefined][] = [
    ['prints and exits 0', 'print("hi")\n1 + 1', [], 0, 'hi\n', undefined],
    ['sys.exit(3) is the command\'s status', 'import sys\nprint("x")\nsys.exit(3)', [], 3, 'x\n', /SystemExit: 3/],
    ['an exception exits 1 with the traceback on stderr', 'def f():\n    raise ValueError("bad")\nf()', [], 1, '', /File "<cell>", line 3[\s\S]*ValueError: bad/],
    ['a timeout exits 124 and says why', 'import time\ntime.sleep(30)', ['--limit', 'timeoutMs=500'], 124, '', /pycell: timeout: the run exceeded its wall-clock limit/],
  ];
  for (const [name, code, flags, status, stdout, stderr] of rows) {
    it(`run file: ${name}`, () => {
      const file = join(dir, 'script.py');
      writeFileSync(file, code);
      const result = pycell(['run', file, ...flags]);
      assert.equal(result.status, status, result.stderr);
      assert.equal(result.stdout, stdout);
      if (stderr) assert.match(result.stderr, stderr);
    });
  }

  it('run - reads the code from stdin', () => {
    const result = pycell(['run', '-'], 'import sys\nprint(sys.version_info[0])');
    assert.deepEqual([result.status, result.stdout], [0, '3\n']);
  });

  it('doctor proves the host can sandbox by running code in a real sandbox', () => {
    const result = pycell(['doctor']);
    assert.equal(result.status, 0, result.stdout);
    assert.match(result.stdout, /^ok {3}bubblewrap \d+\.\d+/m);
    assert.match(result.stdout, /^ok {3}trial run in a sandbox: uid, pid, root entries = 1800000000 2 \d+$/m);
    assert.match(result.stdout, /^info seccomp filter: active \(confirmed by a trial sandbox/m);
    // Which mechanism holds the whole sandbox: this host (root, cgroup v1 memory + pids) offers cgroups.
    assert.match(result.stdout, /^info whole-sandbox limits: memory by (cgroup|monitor), processes by (cgroup|rlimit-per-sandbox-uid|rlimit-shared-uid)$/m);
    assert.match(result.stdout, /^warn the audit log and module policy are advisory/m);
    assert.match(result.stdout, /^result: this host can sandbox$/m);
  });

  it('doctor says what is wrong and how to fix it when bubblewrap is missing', () => {
    const result = pycell(['doctor', '--bwrap', '/nonexistent/bwrap']);
    assert.equal(result.status, 1);
    assert.match(result.stdout, /FAIL bubblewrap: bubblewrap \(\/nonexistent\/bwrap\) is not installed[\s\S]*fix: apt-get install bubblewrap/);
  });

  it('a bad flag value is refused with the setting named', () => {
    const result = pycell(['run', '-', '--limit', 'timeoutMs=0'], 'print(1)');
    assert.equal(result.status, 3);
    assert.match(result.stderr, /config limits\.defaults\.timeoutMs: must be at least 1/);
  });
});
