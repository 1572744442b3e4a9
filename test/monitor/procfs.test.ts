import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseStat, StatFiles, sweep, treeByChildren, treeOf, type ProcStat } from '../../src/monitor/procfs.js';

/** A /proc/PID/stat line: fields 1–24 as Linux writes them, then a few more. */
function statLine(pid: number, comm: string, f: { ppid: number; utime: number; stime: number; cutime: number; cstime: number; start: number; rss: number }): string {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime prio nice threads itreal starttime vsize rss rsslim
  return `${pid} (${comm}) S ${f.ppid} ${pid} ${pid} 0 -1 4194560 1234 0 5 0 ${f.utime} ${f.stime} ${f.cutime} ${f.cstime} 20 0 1 0 ${f.start} 123456789 ${f.rss} 18446744073709551615 1 1 0 0 0 0 0\n`;
}
const nums = { ppid: 4200, utime: 7, stime: 3, cutime: 2, cstime: 1, start: 987654, rss: 321 };
const parsed = (pid: number): ProcStat => ({ pid, ppid: 4200, startTime: 987654, cpuTicks: 13, rssPages: 321 });

describe('monitor/procfs parseStat', () => {
  const rows: [name: string, comm: string][] = [
    ['a plain name', 'python3'],
    ['a name with spaces', 'my prog name'],
    ['a name with a ) and fake fields', 'a) R 1 1 1 (b'],
    ['a name ending in )', 'x)'],
    ['a name that is only ) )', ') )'],
    ['an empty name', ''],
  ];
  for (const [name, comm] of rows) it(`${name}: ${JSON.stringify(comm)}`, () => assert.deepEqual(parseStat(4242, statLine(4242, comm, nums)), parsed(4242)));

  const bad: [name: string, text: string][] = [
    ['empty', ''],
    ['no )', '4242 (python3 S 1 2 3'],
    ['cut off after the name', '4242 (python3) S'],
    ['non-numeric ppid', '4242 (python3) S x 1 1 0 -1 0 0 0 0 0 1 1 1 1 20 0 1 0 5 1 1'],
  ];
  for (const [name, text] of bad) it(`${name} → undefined`, () => assert.equal(parseStat(4242, text), undefined));

  it('reads this very process from /proc/self/stat', () => {
    const stat = parseStat(process.pid, readFileSync('/proc/self/stat', 'latin1'));
    assert.ok(stat);
    assert.equal(stat.pid, process.pid);
    assert.equal(stat.ppid, process.ppid);
    assert.ok(stat.rssPages > 0 && stat.startTime > 0 && stat.cpuTicks >= 0, JSON.stringify(stat));
  });
});

const proc = (pid: number, ppid: number): ProcStat => ({ pid, ppid, startTime: pid * 10, cpuTicks: 0, rssPages: 0 });
const snapshot = (...stats: ProcStat[]): Map<number, ProcStat> => new Map(stats.map((s) => [s.pid, s]));

describe('monitor/procfs treeOf', () => {
  //        1
  //      /   \
  //    10     20
  //   /  \
  //  11   13
  //  |
  //  12
  //  |
  //  30
  const all = snapshot(proc(1, 0), proc(10, 1), proc(11, 10), proc(12, 11), proc(13, 10), proc(20, 1), proc(30, 12));
  const rows: [root: number, pids: number[]][] = [
    [10, [10, 11, 12, 13, 30]],
    [11, [11, 12, 30]],
    [20, [20]],
    [30, [30]],
    [1, [1, 10, 11, 12, 13, 20, 30]],
    [99, []],
  ];
  for (const [root, pids] of rows) {
    it(`tree of ${root} → [${pids.join(', ')}], root first`, () => {
      const tree = treeOf(root, all);
      assert.deepEqual(tree.map((s) => s.pid).sort((a, b) => a - b), pids);
      if (pids.length > 0) assert.equal(tree[0]!.pid, root);
    });
  }

  it('ends on a ppid cycle (a pid reused mid-sweep) instead of looping forever', () => {
    // Run in a child with a deadline: an infinite loop here would hang the whole suite.
    const url = new URL('../../src/monitor/procfs.js', import.meta.url).href;
    const script = `
      import { treeOf } from ${JSON.stringify(url)};
      const all = new Map([[50, { pid: 50, ppid: 60, startTime: 1, cpuTicks: 0, rssPages: 0 }], [60, { pid: 60, ppid: 50, startTime: 2, cpuTicks: 0, rssPages: 0 }]]);
      console.log(treeOf(50, all).map((s) => s.pid).sort().join(','));`;
    const run = spawnSync(process.execPath, ['--max-old-space-size=64', '--input-type=module', '-e', script], { timeout: 3000, encoding: 'utf8' });
    assert.equal(run.signal, null, `treeOf did not end (killed by ${run.signal})`);
    assert.equal(run.stdout, '50,60\n', run.stderr);
  });
});

describe('monitor/procfs treeByChildren', () => {
  it('finds the same real tree as a sweep of all of /proc, threads\' children included, and nothing outside it', async () => {
    // python → sh → sleep, and python's second thread → sleep (listed in that thread's children file).
    const code = [
      'import subprocess, threading, time',
      'a = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & wait"])',
      'threading.Thread(target=lambda: subprocess.Popen(["sleep", "30"]).wait(), daemon=True).start()',
      'print("up", flush=True)',
      'time.sleep(30)',
    ].join('\n');
    const child = spawn('/usr/bin/python3', ['-c', code], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      let tree: number[] = [];
      for (let i = 0; i < 50 && tree.length < 4; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        tree = treeByChildren(child.pid!).map((s) => s.pid).sort();
      }
      assert.equal(tree.length, 4, `python, sh, the sleep under sh and the thread's sleep: ${tree}`);
      assert.deepEqual(tree, treeOf(child.pid!, sweep()).map((s) => s.pid).sort());
      assert.deepEqual(treeByChildren(5_000_001), []);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('monitor/procfs StatFiles', () => {
  it('reads a live process through a kept-open file, fails (and closes it) once the process has exited, and forgets on demand', async () => {
    const files = new StatFiles();
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    const first = files.read(child.pid!);
    assert.equal(first?.pid, child.pid);
    assert.equal(files.read(child.pid!)?.startTime, first!.startTime);
    assert.equal(files.size, 1);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(files.read(child.pid!), undefined, 'a reaped process must not read as alive');
    assert.equal(files.size, 0);
    assert.equal(files.read(process.pid)?.pid, process.pid);
    files.forget([process.pid]);
    assert.equal(files.size, 0);
    assert.equal(files.read(5_000_001), undefined);
  });
});
