import assert from 'node:assert/strict';
import { cgroupDirs, limitWrites, parseOomKills, type CgroupLayout } from '../../src/sandbox/cgroups.js';
import { locateCgroups, probeCgroups, removeStaleCgroups } from '../../src/sandbox/cgroup-probe.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const v1: CgroupLayout = { kind: 'v1', memory: '/sys/fs/cgroup/memory/job', pids: '/sys/fs/cgroup/pids' };
const v2: CgroupLayout = { kind: 'v2', parent: '/sys/fs/cgroup/system.slice/pycell.service' };

describe('sandbox/cgroups', () => {
  it('cgroupDirs: one directory in v2, one per hierarchy in v1', () => {
    assert.deepEqual(cgroupDirs(v2, 'pycell-1-2'), ['/sys/fs/cgroup/system.slice/pycell.service/pycell-1-2']);
    assert.deepEqual(cgroupDirs(v1, 'pycell-1-2'), ['/sys/fs/cgroup/memory/job/pycell-1-2', '/sys/fs/cgroup/pids/pycell-1-2']);
  });

  it('limitWrites v2: memory.max, no swap, pids.max', () => {
    assert.deepEqual(limitWrites(v2, 'c', { memoryBytes: 268435456, tasks: 34 }), [
      ['/sys/fs/cgroup/system.slice/pycell.service/c/memory.max', '268435456'],
      ['/sys/fs/cgroup/system.slice/pycell.service/c/memory.swap.max', '0'],
      ['/sys/fs/cgroup/system.slice/pycell.service/c/pids.max', '34'],
    ]);
  });

  it('limitWrites v1: memsw lifted first (it may not sit below the memory limit), then memory and memsw equal: no swap', () => {
    assert.deepEqual(limitWrites(v1, 'c', { memoryBytes: 134217728, tasks: 18 }), [
      ['/sys/fs/cgroup/memory/job/c/memory.memsw.limit_in_bytes', '-1'],
      ['/sys/fs/cgroup/memory/job/c/memory.limit_in_bytes', '134217728'],
      ['/sys/fs/cgroup/memory/job/c/memory.memsw.limit_in_bytes', '134217728'],
      ['/sys/fs/cgroup/pids/c/pids.max', '18'],
    ]);
  });

  it('parseOomKills reads oom_kill from memory.events (v2) and memory.oom_control (v1)', () => {
    const rows: [string, number][] = [
      ['low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n', 2],
      ['oom_kill_disable 0\nunder_oom 0\noom_kill 7\n', 7],
      ['oom_kill_disable 0\nunder_oom 0\n', 0],
      ['', 0],
    ];
    for (const [text, expected] of rows) assert.equal(parseOomKills(text), expected, JSON.stringify(text));
  });

  describe('locateCgroups', () => {
    const hybridMounts = [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    const rows: { name: string; self: string; mounts: string; expected: ReturnType<typeof locateCgroups> }[] = [
      {
        name: 'hybrid host (v1 controllers, empty unified)',
        self: '8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n',
        mounts: hybridMounts,
        expected: { memory: '/sys/fs/cgroup/memory/process_api/abc', pids: '/sys/fs/cgroup/pids', v2: '/sys/fs/cgroup/unified' },
      },
      {
        name: 'pure v2 host, in a systemd service',
        self: '0::/system.slice/pycell.service\n',
        mounts: '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
        expected: { v2: '/sys/fs/cgroup/system.slice/pycell.service' },
      },
      {
        name: 'a container whose cgroup mount is rooted at its own cgroup',
        self: '0::/docker/abc/inner\n',
        mounts: '30 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw',
        expected: { v2: '/sys/fs/cgroup/inner' },
      },
      { name: 'no cgroup filesystem mounted', self: '0::/\n', mounts: '22 1 0:21 / /proc rw - proc proc rw', expected: {} },
    ];
    for (const row of rows) it(row.name, () => assert.deepEqual(locateCgroups(row.self, row.mounts), row.expected));
  });
});

describe('sandbox/cgroup-probe on this host (real cgroupfs)', () => {
  it('removeStaleCgroups removes the empty cgroups of a broker that is gone, and leaves a living broker\'s alone', function () {
    const { layout, detail } = probeCgroups();
    if (!layout) this.skip(); // this host offers no writable cgroup (root is needed): nothing to clean up
    const dead = spawnSync('/bin/true').pid!; // a pid that has just exited
    const parent = layout.kind === 'v2' ? layout.parent : layout.memory;
    const stale = join(parent, `pycell-${dead}-1`);
    const live = join(parent, `pycell-${process.pid}-999`);
    mkdirSync(stale);
    mkdirSync(live);
    try {
      removeStaleCgroups(layout, (pid) => pid === process.pid);
      assert.equal(existsSync(stale), false, `stale cgroup kept (${detail})`);
      assert.equal(existsSync(live), true, 'a living broker\'s cgroup was removed');
    } finally {
      for (const dir of [stale, live]) if (existsSync(dir)) rmdirSync(dir);
    }
  });
});
