import assert from 'node:assert/strict';
import { makeConfig } from '../src/config.js';
import { BrokerError } from '../src/errors.js';
import { defaultMaximums } from '../src/protocol/limits.js';

const MiB = 1024 * 1024;
/** The contract's defaults: 10 s wall, 10 s CPU, 256 MiB, 32 processes, 1 MiB output, 16 MiB per file. */
const contractDefaults = { timeoutMs: 10_000, cpuMs: 10_000, memoryBytes: 256 * MiB, maxProcesses: 32, maxOutputBytes: 1 * MiB, maxFileBytes: 16 * MiB };

const expectedDefaults = {
  python: '/usr/bin/python3',
  bwrap: 'bwrap',
  sandboxUids: { first: 1_800_000_000, count: 4096 },
  cgroups: 'auto',
  readOnlyBinds: [],
  modulePolicy: { deny: [], allow: null },
  poolSize: 4,
  isolation: 'sandbox',
  processRuns: 1000,
  maxQueue: 256,
  workspaceBytes: 64 * MiB, // the contract's 64 MiB of writable space
  shmBytes: 16 * MiB,
  reprLimit: 64 * 1024,
  maxClientBacklogBytes: 8 * MiB, // a client that stops reading: output notifications stop past this
  maxSessions: 8, // the documented cap (README, protocol/README.md Sessions)
  sessionIdleMs: 30 * 60_000, // 30 minutes, as documented
  interruptGraceMs: 1000,
  completionTimeoutMs: 2000,
  startTimeoutMs: 10_000,
  monitorIntervalMs: 50,
  allowWeakIsolation: false,
  network: 'none',
  logLevel: 'info',
  limits: { defaults: contractDefaults, maximums: defaultMaximums },
};

function throwsConfig(input: unknown, message: string | RegExp, field?: string): void {
  assert.throws(() => makeConfig(input), (error: unknown) => {
    assert.ok(error instanceof BrokerError, `not a BrokerError: ${String(error)}`);
    assert.equal(error.code, -32602);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    if (field !== undefined) assert.equal(error.data?.field, field);
    return true;
  });
}

describe('config makeConfig', () => {
  for (const input of [{}, undefined, null]) {
    it(`${JSON.stringify(input) ?? 'undefined'} → every default`, () => assert.deepEqual(makeConfig(input), expectedDefaults));
  }

  const overrides: { name: string; input: Record<string, unknown>; expected: Record<string, unknown> }[] = [
    {
      name: 'plain settings override their defaults',
      input: { python: '/opt/py/bin/python3', bwrap: '/usr/local/bin/bwrap', poolSize: 2, maxQueue: 0, network: 'host', allowWeakIsolation: true, logLevel: 'silent', logFile: '/var/log/pycell.log' },
      expected: { ...expectedDefaults, python: '/opt/py/bin/python3', bwrap: '/usr/local/bin/bwrap', poolSize: 2, maxQueue: 0, network: 'host', allowWeakIsolation: true, logLevel: 'silent', logFile: '/var/log/pycell.log' },
    },
    {
      name: 'a lower maximum clamps the built-in default to it',
      input: { limits: { maximums: { timeoutMs: 5000, memoryBytes: 100 * MiB } } },
      expected: { ...expectedDefaults, limits: { defaults: { ...contractDefaults, timeoutMs: 5000, memoryBytes: 100 * MiB }, maximums: { ...defaultMaximums, timeoutMs: 5000, memoryBytes: 100 * MiB } } },
    },
    {
      name: 'a higher maximum leaves the default alone',
      input: { limits: { maximums: { timeoutMs: 600_000 } } },
      expected: { ...expectedDefaults, limits: { defaults: contractDefaults, maximums: { ...defaultMaximums, timeoutMs: 600_000 } } },
    },
    {
      name: 'an explicit default within the maximum is kept',
      input: { limits: { defaults: { cpuMs: 20_000, maxProcesses: 8 } } },
      expected: { ...expectedDefaults, limits: { defaults: { ...contractDefaults, cpuMs: 20_000, maxProcesses: 8 }, maximums: defaultMaximums } },
    },
    {
      name: 'an explicit default equal to a lowered maximum is kept',
      input: { limits: { defaults: { maxOutputBytes: 1000 }, maximums: { maxOutputBytes: 1000 } } },
      expected: { ...expectedDefaults, limits: { defaults: { ...contractDefaults, maxOutputBytes: 1000 }, maximums: { ...defaultMaximums, maxOutputBytes: 1000 } } },
    },
  ];
  for (const row of overrides) it(row.name, () => assert.deepEqual(makeConfig(row.input), row.expected));

  it('the result is frozen all the way to the limits', () => {
    const config = makeConfig({});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.limits));
    assert.ok(Object.isFrozen(config.limits.defaults));
    assert.ok(Object.isFrozen(config.limits.maximums));
  });

  it('does not share or change the built-in maximums', () => {
    const before = { ...defaultMaximums };
    makeConfig({ limits: { maximums: { timeoutMs: 5 } } });
    assert.deepEqual(defaultMaximums, before);
  });

  describe('refuses', () => {
    it('an explicit default above the maximum', () =>
      throwsConfig({ limits: { defaults: { timeoutMs: 400_000 } } }, 'config limits.defaults.timeoutMs: exceeds the maximum 300000 (received 400000)'));
    it('an explicit default above a lowered maximum', () =>
      throwsConfig({ limits: { defaults: { cpuMs: 6000 }, maximums: { cpuMs: 5000 } } }, 'config limits.defaults.cpuMs: exceeds the maximum 5000 (received 6000)'));
    it('a zero default', () =>
      throwsConfig({ limits: { defaults: { maxProcesses: 0 } } }, 'config limits.defaults.maxProcesses: must be at least 1 (a limit of zero or less is not "no limit") (received 0)'));
    it('a zero maximum', () =>
      throwsConfig({ limits: { maximums: { memoryBytes: 0 } } }, 'config limits.maximums.memoryBytes: must be at least 1 (a limit of zero or less is not "no limit") (received 0)'));
    it('a fractional maximum', () =>
      throwsConfig({ limits: { maximums: { timeoutMs: 2.5 } } }, `config limits.maximums.timeoutMs: must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER} (received 2.5)`));

    // data.field is a path into the config, the same for a limit as for any other setting (a schema fault gives "poolSize").
    it('a bad limit names its config path in data.field, like every other setting', () =>
      throwsConfig({ limits: { defaults: { timeoutMs: 400_000 } } }, /^config limits\.defaults\.timeoutMs: /, 'limits.defaults.timeoutMs'));

    // Schema faults: the message starts with "config <path>: " and data.field is the path.
    const schemaRows: { name: string; input: unknown; field: string }[] = [
      { name: 'poolSize 0', input: { poolSize: 0 }, field: 'poolSize' },
      { name: 'poolSize 1.5', input: { poolSize: 1.5 }, field: 'poolSize' },
      { name: 'poolSize as a string', input: { poolSize: '4' }, field: 'poolSize' },
      { name: 'maxQueue -1', input: { maxQueue: -1 }, field: 'maxQueue' },
      { name: 'a sandbox uid range starting at 0 (the sandbox never maps to host root)', input: { sandboxUids: { first: 0, count: 8 } }, field: 'sandboxUids.first' },
      { name: 'an empty sandbox uid range', input: { sandboxUids: { first: 100_000, count: 0 } }, field: 'sandboxUids.count' },
      { name: 'a uid range reaching (uid_t)-1', input: { sandboxUids: { first: 0xffffff00, count: 8 } }, field: 'sandboxUids.first' },
      { name: 'cgroups "maybe"', input: { cgroups: 'maybe' }, field: 'cgroups' },
      { name: 'a relative bind source', input: { readOnlyBinds: [{ source: 'data', dest: '/data' }] }, field: 'readOnlyBinds.0.source' },
      { name: 'a bind source with ".."', input: { readOnlyBinds: [{ source: '/srv/../etc', dest: '/data' }] }, field: 'readOnlyBinds.0.source' },
      { name: 'a bind over the working directory', input: { readOnlyBinds: [{ source: '/srv/data', dest: '/tmp/data' }] }, field: 'readOnlyBinds.0.dest' },
      { name: 'a bind over /proc', input: { readOnlyBinds: [{ source: '/srv/data', dest: '/proc' }] }, field: 'readOnlyBinds.0.dest' },
      { name: 'a bind over the root', input: { readOnlyBinds: [{ source: '/srv/data', dest: '/' }] }, field: 'readOnlyBinds.0.dest' },
      { name: 'a module name with a slash', input: { modulePolicy: { deny: ['os/path'] } }, field: 'modulePolicy.deny.0' },
      { name: 'workspace under 1 MiB', input: { workspaceBytes: MiB - 1 }, field: 'workspaceBytes' },
      { name: 'network "bridge"', input: { network: 'bridge' }, field: 'network' },
      { name: 'an empty python path', input: { python: '' }, field: 'python' },
      { name: 'a limit default as a string', input: { limits: { defaults: { timeoutMs: '10' } } }, field: 'limits.defaults.timeoutMs' },
      { name: 'allowWeakIsolation as a string', input: { allowWeakIsolation: 'yes' }, field: 'allowWeakIsolation' },
    ];
    for (const row of schemaRows) {
      it(row.name, () => throwsConfig(row.input, new RegExp(`^config ${row.field.replace(/\./g, '\\.')}: \\S`), row.field));
    }

    // Principle 7: the error names the field. An unknown key is a field the operator misspelled.
    it('an unknown top-level key, naming it', () => throwsConfig({ poolsize: 4 }, /^config poolsize: .*poolsize/, 'poolsize'));
    it('an unknown limit name, naming it', () => throwsConfig({ limits: { defaults: { timeout: 5 } } }, /^config limits\.defaults\.timeout: .*timeout/, 'limits.defaults.timeout'));
    it('a config that is not an object', () => throwsConfig(42, /^config \(root\): \S/, ''));
  });
});
