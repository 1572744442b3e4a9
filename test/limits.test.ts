import assert from 'node:assert/strict';
import { checkLimit, resolveLimits } from '../src/limits.js';
import type { Limits } from '../src/protocol/limits.js';
import { throwsInvalid } from './helpers/assertions.js';

const MiB = 1024 * 1024;
const defaults: Limits = { timeoutMs: 10_000, cpuMs: 10_000, memoryBytes: 256 * MiB, maxProcesses: 32, maxOutputBytes: 1 * MiB, maxFileBytes: 16 * MiB };
const maximums: Limits = { timeoutMs: 300_000, cpuMs: 300_000, memoryBytes: 4096 * MiB, maxProcesses: 256, maxOutputBytes: 64 * MiB, maxFileBytes: 1024 * MiB };


describe('limits checkLimit', () => {
  const f = 'limits.timeoutMs';
  // (value → message, data.value). Non-finite numbers cannot travel in JSON, so data carries their name.
  const bad: { value: unknown; message: string; dataValue: unknown }[] = [
    { value: 0, message: `${f}: must be at least 1 (a limit of zero or less is not "no limit") (received 0)`, dataValue: 0 },
    { value: -0, message: `${f}: must be at least 1 (a limit of zero or less is not "no limit") (received 0)`, dataValue: -0 },
    { value: -1, message: `${f}: must be at least 1 (a limit of zero or less is not "no limit") (received -1)`, dataValue: -1 },
    { value: -300_001, message: `${f}: must be at least 1 (a limit of zero or less is not "no limit") (received -300001)`, dataValue: -300_001 },
    { value: 1.5, message: `${f}: must be a whole number from 1 to 300000 (received 1.5)`, dataValue: 1.5 },
    { value: 0.5, message: `${f}: must be a whole number from 1 to 300000 (received 0.5)`, dataValue: 0.5 },
    { value: NaN, message: `${f}: must be finite (at most 300000) (received NaN)`, dataValue: 'NaN' },
    { value: Infinity, message: `${f}: must be finite (at most 300000) (received Infinity)`, dataValue: 'Infinity' },
    { value: -Infinity, message: `${f}: must be finite (at most 300000) (received -Infinity)`, dataValue: '-Infinity' },
    { value: '10', message: `${f}: must be a number from 1 to 300000 (received "10")`, dataValue: '10' },
    { value: null, message: `${f}: must be a number from 1 to 300000 (received null)`, dataValue: null },
    { value: true, message: `${f}: must be a number from 1 to 300000 (received true)`, dataValue: true },
    { value: undefined, message: `${f}: must be a number from 1 to 300000 (received undefined)`, dataValue: undefined },
    { value: [5], message: `${f}: must be a number from 1 to 300000 (received [5])`, dataValue: '[5]' },
    { value: 300_001, message: `${f}: exceeds the maximum 300000 (received 300001)`, dataValue: 300_001 },
    { value: 2 ** 53, message: `${f}: exceeds the maximum 300000 (received 9007199254740992)`, dataValue: 2 ** 53 },
  ];
  for (const row of bad) {
    it(`refuses ${typeof row.value === 'string' ? JSON.stringify(row.value) : Object.is(row.value, -0) ? '-0' : String(row.value)}`, () =>
      throwsInvalid(() => checkLimit(f, row.value, 300_000), row.message, { field: f, value: row.dataValue }));
  }

  const good: [value: number, maximum: number][] = [[1, 300_000], [300_000, 300_000], [12_345, 300_000], [1, 1], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]];
  for (const [value, maximum] of good) it(`accepts ${value} with maximum ${maximum}`, () => assert.equal(checkLimit(f, value, maximum), value));
});

describe('limits resolveLimits', () => {
  const rows: { name: string; requested: Parameters<typeof resolveLimits>[0]; expected: Limits }[] = [
    { name: 'undefined → the defaults', requested: undefined, expected: defaults },
    { name: '{} → the defaults', requested: {}, expected: defaults },
    { name: 'one field lowered', requested: { timeoutMs: 500 }, expected: { ...defaults, timeoutMs: 500 } },
    { name: 'a field raised up to its maximum', requested: { memoryBytes: 4096 * MiB }, expected: { ...defaults, memoryBytes: 4096 * MiB } },
    {
      name: 'every field',
      requested: { timeoutMs: 1, cpuMs: 2, memoryBytes: 3, maxProcesses: 4, maxOutputBytes: 5, maxFileBytes: 6 },
      expected: { timeoutMs: 1, cpuMs: 2, memoryBytes: 3, maxProcesses: 4, maxOutputBytes: 5, maxFileBytes: 6 },
    },
    { name: 'an explicit undefined keeps the default', requested: { cpuMs: undefined, maxProcesses: 8 }, expected: { ...defaults, maxProcesses: 8 } },
  ];
  for (const row of rows) it(row.name, () => assert.deepEqual(resolveLimits(row.requested, defaults, maximums), row.expected));

  it('does not change the defaults it merges over', () => {
    const before = { ...defaults };
    resolveLimits({ timeoutMs: 1 }, defaults, maximums);
    assert.deepEqual(defaults, before);
  });

  const bad: { name: string; requested: Record<string, unknown>; field?: string; message: string; data: { field: string; value: unknown } }[] = [
    {
      name: 'names the field under the default prefix', requested: { maxProcesses: 0 },
      message: 'limits.maxProcesses: must be at least 1 (a limit of zero or less is not "no limit") (received 0)', data: { field: 'limits.maxProcesses', value: 0 },
    },
    {
      name: 'names the field under params.limits', requested: { memoryBytes: 4096 * MiB + 1 }, field: 'params.limits',
      message: `params.limits.memoryBytes: exceeds the maximum ${4096 * MiB} (received ${4096 * MiB + 1})`, data: { field: 'params.limits.memoryBytes', value: 4096 * MiB + 1 },
    },
    {
      name: 'the first bad field in contract order is the one named', requested: { maxFileBytes: -1, cpuMs: 'x', timeoutMs: 5 }, field: 'params.limits',
      message: 'params.limits.cpuMs: must be a number from 1 to 300000 (received "x")', data: { field: 'params.limits.cpuMs', value: 'x' },
    },
    {
      name: 'null is refused, never "no limit"', requested: { timeoutMs: null }, field: 'params.limits',
      message: 'params.limits.timeoutMs: must be a number from 1 to 300000 (received null)', data: { field: 'params.limits.timeoutMs', value: null },
    },
    {
      name: 'a default above nothing still cannot exceed the maximum', requested: { maxOutputBytes: 64 * MiB + 1 }, field: 'params.limits',
      message: `params.limits.maxOutputBytes: exceeds the maximum ${64 * MiB} (received ${64 * MiB + 1})`, data: { field: 'params.limits.maxOutputBytes', value: 64 * MiB + 1 },
    },
  ];
  for (const row of bad) {
    it(`refuses: ${row.name}`, () => throwsInvalid(() => resolveLimits(row.requested, defaults, maximums, row.field), row.message, row.data));
  }
});
