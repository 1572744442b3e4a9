import assert from 'node:assert/strict';
import { BrokerError } from '../../src/errors.js';
import { executeParamsSchema, MAX_CODE_LENGTH } from '../../src/protocol/execute.js';
import { initializeParamsSchema } from '../../src/protocol/lifecycle.js';
import { parseParams } from '../../src/rpc/validate.js';
import { throwsInvalid } from '../helpers/assertions.js';


describe('rpc/validate parseParams', () => {
  describe('accepts and returns the parsed params', () => {
    const rows: unknown[] = [
      { code: 'print(1)' },
      { code: '', stdin: 'in', limits: { timeoutMs: 5 }, files: [{ path: 'a.txt', content: 'YQ==' }], outputToken: 't-1' },
      { code: 'x', outputToken: 7, session: 's1' },
    ];
    for (const params of rows) it(JSON.stringify(params), () => assert.deepEqual(parseParams(executeParamsSchema, params), params));
  });

  // (params → field, why, what the message shows, data.value). The field is the full path; the value is echoed
  // (an object or array as its short JSON preview).
  const rows: [name: string, params: unknown, field: string, why: string, shown: string, value: unknown][] = [
    ['an unknown key names the key', { code: 'x', bogus: 1 }, 'params.bogus', 'is not a known field', '1', 1],
    ['an unknown key inside limits names its path', { code: 'x', limits: { timeout: 5 } }, 'params.limits.timeout', 'is not a known field', '5', 5],
    ['an unknown key inside a file names its index', { code: 'x', files: [{ path: 'a', content: '', mode: 493 }] }, 'params.files.0.mode', 'is not a known field', '493', 493],
    ['a JSON "__proto__" key is an unknown key, read as an own property', JSON.parse('{"code":"x","__proto__":{"polluted":1}}'), 'params.__proto__', 'is not a known field', '{"polluted":1}', '{"polluted":1}'],
    ['code as a number', { code: 5 }, 'params.code', 'must be string', '5', 5],
    ['code missing', {}, 'params.code', 'must be string', 'undefined', undefined],
    ['stdin null', { code: 'x', stdin: null }, 'params.stdin', 'must be string', 'null', null],
    ['files not an array', { code: 'x', files: 'a' }, 'params.files', 'must be array', '"a"', 'a'],
    ['a file path of the wrong type names the nested path', { code: 'x', files: [{ path: 'ok', content: '' }, { path: 5, content: '' }] }, 'params.files.1.path', 'must be string', '5', 5],
    ['a file content of the wrong type', { code: 'x', files: [{ path: 'a', content: false }] }, 'params.files.0.content', 'must be string', 'false', false],
    ['a file that is not an object', { code: 'x', files: [7] }, 'params.files.0', 'must be object', '7', 7],
    ['limits not an object', { code: 'x', limits: 5 }, 'params.limits', 'must be object', '5', 5],
    ['an empty session id', { code: 'x', session: '' }, 'params.session', 'is too small (at least 1 characters)', '""', ''],
    ['an empty file path', { code: 'x', files: [{ path: '', content: '' }] }, 'params.files.0.path', 'is too small (at least 1 characters)', '""', ''],
    ['params null', null, 'params', 'must be object', 'null', null],
    ['params an array', [], 'params', 'must be object', '[]', '[]'],
  ];
  for (const [name, params, field, why, shown, value] of rows) {
    it(`refuses: ${name}`, () => throwsInvalid(() => parseParams(executeParamsSchema, params), `${field}: ${why} (received ${shown})`, { field, value }));
  }

  it('refuses a code longer than the maximum, with a short preview of the value', () => {
    const code = 'x'.repeat(MAX_CODE_LENGTH + 1);
    throwsInvalid(() => parseParams(executeParamsSchema, { code }), `params.code: is too large (at most ${MAX_CODE_LENGTH} characters) (received "${'x'.repeat(76)}...)`, { field: 'params.code', value: 'x'.repeat(200) });
  });

  it('refuses more files than the maximum, naming the field', () => {
    const files = Array.from({ length: 257 }, (_, i) => ({ path: `f${i}`, content: '' }));
    assert.throws(() => parseParams(executeParamsSchema, { code: 'x', files }), (error: unknown) => {
      assert.ok(error instanceof BrokerError);
      assert.equal(error.data?.field, 'params.files');
      assert.match(error.message, /^params\.files: is too large \(at most 256 items\) \(received \[\{"path":"f0","content":""\},/);
      return true;
    });
  });

  it('a token of the wrong type names the field and echoes the value', () => {
    assert.throws(() => parseParams(executeParamsSchema, { code: 'x', outputToken: true }), (error: unknown) => {
      assert.ok(error instanceof BrokerError);
      assert.equal(error.code, -32602);
      assert.deepEqual(error.data, { field: 'params.outputToken', value: true });
      assert.match(error.message, /^params\.outputToken: .+ \(received true\)$/);
      return true;
    });
  });

  describe('initialize params', () => {
    const rows: [name: string, params: unknown, field: string, why: string, value: unknown][] = [
      ['an unknown key in clientInfo', { clientInfo: { name: 'ed', extra: 1 } }, 'params.clientInfo.extra', 'is not a known field', 1],
      ['clientInfo without a name', { clientInfo: {} }, 'params.clientInfo.name', 'must be string', undefined],
      ['a processId string', { processId: 'x' }, 'params.processId', 'must be number', 'x'],
      ['interactiveInput not a boolean', { capabilities: { interactiveInput: 'yes' } }, 'params.capabilities.interactiveInput', 'must be boolean', 'yes'],
    ];
    for (const [name, params, field, why, value] of rows) {
      it(`refuses: ${name}`, () => {
        const shown = value === undefined ? 'undefined' : JSON.stringify(value);
        throwsInvalid(() => parseParams(initializeParamsSchema, params), `${field}: ${why} (received ${shown})`, { field, value });
      });
    }
  });

  it('the root name is the caller\'s', () =>
    throwsInvalid(() => parseParams(executeParamsSchema, { code: 1 }, 'request'), 'request.code: must be string (received 1)', { field: 'request.code', value: 1 }));
});
