import assert from 'node:assert/strict';
import fc from 'fast-check';
import { agentCommand, toBwrapArgv } from '../../src/sandbox/argv.js';
import { makeLaunchSpec } from '../../src/sandbox/launch.js';
import { ETC_FILES, sandboxEnv, type HostFacts, type SandboxPolicy } from '../../src/sandbox/policy.js';

const MiB = 1024 * 1024;

const policy: SandboxPolicy = { network: 'none', workspaceBytes: 64 * MiB, shmBytes: 16 * MiB, extraReadOnly: [], mode: 'single' };

/** A merged-/usr Debian/Ubuntu host with the system interpreter. */
const mergedUsr: HostFacts = {
  python: { executable: '/usr/bin/python3.11', prefixes: ['/usr'] },
  rootEntries: [
    { path: '/bin', symlink: 'usr/bin' },
    { path: '/lib', symlink: 'usr/lib' },
    { path: '/lib64', symlink: 'usr/lib64' },
    { path: '/sbin', symlink: 'usr/sbin' },
  ],
  agentDir: '/tmp/pycell-Ab12/agent',
};

/** An old split-/usr host with an interpreter built into /opt. */
const splitUsr: HostFacts = {
  python: { executable: '/opt/python/3.12/bin/python3.12', prefixes: ['/opt/python/3.12'] },
  rootEntries: [
    { path: '/bin', dir: true },
    { path: '/lib', dir: true },
    { path: '/lib64', dir: true },
  ],
  agentDir: '/var/lib/pycell/agent',
};

/** Everything every sandbox starts with, in order: namespaces, session, identity, environment. */
const head = (net: boolean): string[] => [
  '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup',
  ...(net ? ['--unshare-net'] : []),
  '--disable-userns', '--die-with-parent', '--new-session',
  '--hostname', 'pycell',
  '--cap-drop', 'ALL',
  '--clearenv',
  '--setenv', 'PATH', '/usr/local/bin:/usr/bin:/bin',
  '--setenv', 'HOME', '/tmp',
  '--setenv', 'TMPDIR', '/tmp',
  '--setenv', 'LANG', 'C.UTF-8',
];

/** Everything every sandbox ends with: /proc, a read-only /dev with a sized /dev/shm, a sized /tmp, a read-only root, the command. */
const tail = (shm: string, work: string, python: string, mode: string): string[] => [
  '--proc', '/proc',
  '--remount-ro', '/proc',
  '--dev', '/dev',
  '--size', shm, '--tmpfs', '/dev/shm',
  '--remount-ro', '/dev',
  '--size', work, '--tmpfs', '/tmp',
  '--remount-ro', '/',
  '--chdir', '/tmp',
  '--', python, '-I', '-B', '-u', '/pycell/agent/main.py', '--mode', mode,
];

describe('sandbox/argv toBwrapArgv', () => {
  const rows: { name: string; policy: SandboxPolicy; facts: HostFacts; expected: string[] }[] = [
    {
      name: 'merged /usr, system python, no network',
      policy,
      facts: mergedUsr,
      expected: [
        ...head(true),
        '--ro-bind', '/usr', '/usr',
        '--symlink', 'usr/bin', '/bin',
        '--symlink', 'usr/lib', '/lib',
        '--symlink', 'usr/lib64', '/lib64',
        '--symlink', 'usr/sbin', '/sbin',
        '--ro-bind', '/tmp/pycell-Ab12/agent', '/pycell/agent',
        ...tail('16777216', '67108864', '/usr/bin/python3.11', 'single'),
      ],
    },
    {
      name: 'split /usr, python under /opt bound read-only, host network, session mode, one extra bind',
      policy: { network: 'host', workspaceBytes: 8 * MiB, shmBytes: 65536, extraReadOnly: [{ source: '/srv/data', dest: '/data' }], mode: 'session' },
      facts: splitUsr,
      expected: [
        ...head(false),
        '--ro-bind', '/usr', '/usr',
        '--ro-bind', '/bin', '/bin',
        '--ro-bind', '/lib', '/lib',
        '--ro-bind', '/lib64', '/lib64',
        '--ro-bind', '/opt/python/3.12', '/opt/python/3.12',
        '--ro-bind', '/srv/data', '/data',
        '--ro-bind', '/var/lib/pycell/agent', '/pycell/agent',
        ...tail('65536', '8388608', '/opt/python/3.12/bin/python3.12', 'session'),
      ],
    },
    {
      name: 'prefixes inside /usr are not bound again; /usr2 is not inside /usr',
      policy,
      facts: {
        python: { executable: '/usr/local/bin/python3.13', prefixes: ['/usr', '/usr/local', '/usr2/py'] },
        rootEntries: [],
        agentDir: '/var/lib/pycell/agent',
      },
      expected: [
        ...head(true),
        '--ro-bind', '/usr', '/usr',
        '--ro-bind', '/usr2/py', '/usr2/py',
        '--ro-bind', '/var/lib/pycell/agent', '/pycell/agent',
        ...tail('16777216', '67108864', '/usr/local/bin/python3.13', 'single'),
      ],
    },
    {
      name: 'Debian alternatives are recreated as symlinks to their resolved /usr targets, never a bind of /etc',
      policy,
      facts: {
        python: { executable: '/usr/bin/python3', prefixes: ['/usr'] },
        rootEntries: [],
        alternatives: [{ name: 'libblas.so.3-x86_64-linux-gnu', target: '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3' }],
        etcFiles: ['/etc/matplotlibrc', '/etc/shadow'],
        agentDir: '/var/lib/pycell/agent',
      },
      expected: [
        ...head(true),
        '--ro-bind', '/usr', '/usr',
        '--symlink', '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3', '/etc/alternatives/libblas.so.3-x86_64-linux-gnu',
        // only the allowlisted file: a fact naming /etc/shadow is not bound
        '--ro-bind', '/etc/matplotlibrc', '/etc/matplotlibrc',
        '--ro-bind', '/var/lib/pycell/agent', '/pycell/agent',
        ...tail('16777216', '67108864', '/usr/bin/python3', 'single'),
      ],
    },
    {
      name: 'a venv prefix and its base outside /usr are both bound',
      policy,
      facts: {
        python: { executable: '/opt/pyenv/versions/3.12.1/bin/python3.12', prefixes: ['/srv/venv', '/opt/pyenv/versions/3.12.1'] },
        rootEntries: [{ path: '/lib', symlink: 'usr/lib' }],
        agentDir: '/var/lib/pycell/agent',
      },
      expected: [
        ...head(true),
        '--ro-bind', '/usr', '/usr',
        '--symlink', 'usr/lib', '/lib',
        '--ro-bind', '/srv/venv', '/srv/venv',
        '--ro-bind', '/opt/pyenv/versions/3.12.1', '/opt/pyenv/versions/3.12.1',
        '--ro-bind', '/var/lib/pycell/agent', '/pycell/agent',
        ...tail('16777216', '67108864', '/opt/pyenv/versions/3.12.1/bin/python3.12', 'single'),
      ],
    },
  ];
  for (const row of rows) {
    it(row.name, () => assert.deepEqual(toBwrapArgv(row.policy, row.facts), row.expected));
  }

  it('agentCommand runs the interpreter isolated, unbuffered, without bytecode writes', () => {
    assert.deepEqual(agentCommand(mergedUsr, { mode: 'single' }, '/pycell/agent'), ['/usr/bin/python3.11', '-I', '-B', '-u', '/pycell/agent/main.py', '--mode', 'single']);
    assert.deepEqual(agentCommand(splitUsr, { mode: 'session' }, '/pycell/agent'), ['/opt/python/3.12/bin/python3.12', '-I', '-B', '-u', '/pycell/agent/main.py', '--mode', 'session']);
  });

  it('agentCommand passes a module policy only when there is one', () => {
    const rows: [SandboxPolicy['modulePolicy'], string[]][] = [
      [undefined, []],
      [{ deny: [], allow: null }, []],
      [{ deny: ['socket', 'ctypes'], allow: null }, ['--module-policy', '{"deny":["socket","ctypes"],"allow":null}']],
      [{ deny: [], allow: ['math'] }, ['--module-policy', '{"deny":[],"allow":["math"]}']],
    ];
    for (const [modulePolicy, extra] of rows) {
      assert.deepEqual(agentCommand(mergedUsr, { mode: 'single', ...(modulePolicy ? { modulePolicy } : {}) }, '/a'), ['/usr/bin/python3.11', '-I', '-B', '-u', '/a/main.py', '--mode', 'single', ...extra]);
    }
  });

  it('a virtualenv interpreter: its prefix is bound read-only at the same path, and it is started by its own path', () => {
    const venv: HostFacts = { ...mergedUsr, python: { executable: '/srv/venv/bin/python', prefixes: ['/srv/venv', '/usr'] } };
    const args = toBwrapArgv(policy, venv);
    const at = args.indexOf('/srv/venv');
    assert.deepEqual(args.slice(at - 1, at + 2), ['--ro-bind', '/srv/venv', '/srv/venv']);
    assert.deepEqual(args.slice(args.indexOf('--') + 1, args.indexOf('--') + 2), ['/srv/venv/bin/python']);
  });
});

/** Random policies and hosts; the sandbox's shape must hold for all of them. */
const pathArb = fc.array(fc.constantFrom('a', 'lib', 'python3', 'opt', 'x86_64-linux-gnu'), { minLength: 1, maxLength: 3 });
const factsArb: fc.Arbitrary<HostFacts> = fc.record({
  python: fc.record({
    executable: fc.constantFrom('/usr/bin/python3', '/opt/py/bin/python3'),
    prefixes: fc.array(fc.oneof(fc.constant('/usr'), pathArb.map((p) => `/usr/${p.join('/')}`), pathArb.map((p) => `/opt/${p.join('/')}`)), { maxLength: 4 }),
  }),
  rootEntries: fc.uniqueArray(
    fc.constantFrom('/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32').chain((path) =>
      fc.oneof(fc.constant({ path, dir: true as const }), fc.constant({ path, symlink: `usr${path}` })),
    ),
    { selector: (e) => e.path },
  ),
  agentDir: fc.constantFrom('/tmp/pycell-x1/agent', '/var/lib/pycell/agent'),
});
const policyArb: fc.Arbitrary<SandboxPolicy> = fc.record({
  network: fc.constantFrom('none' as const, 'host' as const),
  workspaceBytes: fc.integer({ min: MiB, max: 2 ** 40 }),
  shmBytes: fc.integer({ min: 65536, max: 1024 * MiB }),
  extraReadOnly: fc.constant([]),
  mode: fc.constantFrom('single' as const, 'session' as const),
});

/** Pairs (source, dest) of every bind-like option in argv, with the option's name. */
function binds(argv: readonly string[]): { option: string; source: string; dest: string }[] {
  const out: { option: string; source: string; dest: string }[] = [];
  const end = argv.indexOf('--');
  for (let i = 0; i < end; i++) {
    const option = argv[i]!;
    if (/^--(ro-|dev-)?bind(-try)?$/.test(option)) out.push({ option, source: argv[i + 1]!, dest: argv[i + 2]! });
  }
  return out;
}

describe('sandbox/argv properties', () => {
  it('--unshare-net appears exactly when network is none, and all other namespaces always', () => {
    fc.assert(fc.property(policyArb, factsArb, (p, f) => {
      const argv = toBwrapArgv(p, f);
      assert.equal(argv.includes('--unshare-net'), p.network === 'none');
      for (const option of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup', '--disable-userns', '--die-with-parent', '--new-session', '--clearenv']) {
        assert.equal(argv.filter((a) => a === option).length, 1, option);
      }
    }));
  });

  it('every bind is read-only, and no host home, /root, /run, /etc or the host /tmp itself is bound', () => {
    fc.assert(fc.property(policyArb, factsArb, (p, f) => {
      const argv = toBwrapArgv(p, f);
      for (const bind of binds(argv)) {
        assert.equal(bind.option, '--ro-bind', `${bind.option} ${bind.source}`);
        if (!ETC_FILES.includes(bind.source)) assert.doesNotMatch(bind.source, /^\/(home|root|run|etc)(\/|$)/);
        assert.notEqual(bind.source, '/tmp');
        // The only thing taken from the host /tmp is the broker's private agent copy, mounted at /pycell/agent.
        if (bind.source.startsWith('/tmp/')) assert.deepEqual([bind.source, bind.dest], [f.agentDir, '/pycell/agent']);
      }
      assert.ok(!argv.includes('--bind') && !argv.includes('--dev-bind'));
    }));
  });

  it('every --tmpfs is immediately preceded by --size N, with the policy\'s sizes', () => {
    fc.assert(fc.property(policyArb, factsArb, (p, f) => {
      const argv = toBwrapArgv(p, f);
      const tmpfs = argv.flatMap((a, i) => (a === '--tmpfs' ? [i] : []));
      assert.deepEqual(tmpfs.map((i) => [argv[i - 2], argv[i - 1], argv[i + 1]]), [
        ['--size', String(p.shmBytes), '/dev/shm'],
        ['--size', String(p.workspaceBytes), '/tmp'],
      ]);
    }));
  });

  it('sets exactly the allowlisted environment after --clearenv', () => {
    fc.assert(fc.property(policyArb, factsArb, (p, f) => {
      const argv = toBwrapArgv(p, f);
      const env = argv.flatMap((a, i) => (a === '--setenv' ? [[argv[i + 1], argv[i + 2]]] : []));
      assert.deepEqual(Object.fromEntries(env), { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', TMPDIR: '/tmp', LANG: 'C.UTF-8' });
      assert.ok(argv.indexOf('--clearenv') < argv.indexOf('--setenv'));
    }));
  });

  it('ends with -- and the agent command, once', () => {
    fc.assert(fc.property(policyArb, factsArb, (p, f) => {
      const argv = toBwrapArgv(p, f);
      assert.equal(argv.filter((a) => a === '--').length, 1);
      assert.deepEqual(argv.slice(argv.indexOf('--') + 1), [f.python.executable, '-I', '-B', '-u', '/pycell/agent/main.py', '--mode', p.mode]);
    }));
  });
});

describe('sandbox/launch makeLaunchSpec', () => {
  const user = { uid: 65534, gid: 65534 };
  const rows: { name: string; spec: ReturnType<typeof makeLaunchSpec>; expected: unknown }[] = [
    {
      name: 'sandbox: bwrap with the projected argv, the allowlisted env, no host workdir',
      spec: makeLaunchSpec({ kind: 'sandbox', bwrapPath: '/usr/bin/bwrap' }, policy, mergedUsr, user),
      expected: { file: '/usr/bin/bwrap', args: toBwrapArgv(policy, mergedUsr), env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', TMPDIR: '/tmp', LANG: 'C.UTF-8' }, user, needsHostWorkdir: false },
    },
    {
      name: 'sandbox without a user (broker not root) keeps user undefined',
      spec: makeLaunchSpec({ kind: 'sandbox', bwrapPath: '/usr/bin/bwrap' }, policy, mergedUsr, undefined),
      expected: { file: '/usr/bin/bwrap', args: toBwrapArgv(policy, mergedUsr), env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', TMPDIR: '/tmp', LANG: 'C.UTF-8' }, user: undefined, needsHostWorkdir: false },
    },
    {
      name: 'weak: the interpreter directly on the host agent copy, needing a host workdir',
      spec: makeLaunchSpec({ kind: 'weak' }, { ...policy, mode: 'session' }, splitUsr, user),
      expected: {
        file: '/opt/python/3.12/bin/python3.12',
        args: ['-I', '-B', '-u', '/var/lib/pycell/agent/main.py', '--mode', 'session'],
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', TMPDIR: '/tmp', LANG: 'C.UTF-8' },
        user,
        needsHostWorkdir: true,
      },
    },
  ];
  for (const row of rows) it(row.name, () => assert.deepEqual(row.spec, row.expected));

  it('the environment handed to bwrap itself is the frozen allowlist (its init shows it in /proc/1/environ)', () => {
    const spec = makeLaunchSpec({ kind: 'sandbox', bwrapPath: '/usr/bin/bwrap' }, policy, mergedUsr, user);
    assert.equal(spec.env, sandboxEnv);
    assert.ok(Object.isFrozen(sandboxEnv));
  });
});
