import assert from 'node:assert/strict';
import { executionRecord } from '../../src/rpc/execlog.js';
import type { ExecuteResult } from '../../src/protocol/execute.js';

const limits = { timeoutMs: 10_000, cpuMs: 10_000, memoryBytes: 268435456, maxProcesses: 32, maxOutputBytes: 1048576, maxFileBytes: 16777216 };
const context = { seq: 7, client: 'vscode-pycell', limits, startedAt: 1000 };
const base: ExecuteResult = {
  status: 'ok', stdout: 'héllo\n', stderr: '', stdoutTruncated: false, stderrTruncated: false, exitCode: 0, signal: null,
  usage: { wallMs: 5, cpuMs: 1, peakMemoryBytes: 10 },
};
// `printf 'print(1)' | sha256sum`
const PRINT1_SHA256 = 'd287bb7f9d15abdc5b6e98536263815744b6ef21c8f3c839fc434ca70d8efe99';

describe('rpc/execlog', () => {
  it('an ok run: size and SHA-256 of the code, limits, usage, output bytes; never the code or its output', () => {
    const record = executionRecord({ code: 'print(1)' }, context, { result: base }, 1012.5);
    assert.deepEqual(record, {
      event: 'execution', seq: 7, client: 'vscode-pycell', session: null, codeBytes: 8, codeSha256: PRINT1_SHA256,
      files: 0, limits, ms: 12.5, status: 'ok', exitCode: 0, signal: null, usage: base.usage, outputBytes: 7, truncated: false,
    });
    assert.ok(!JSON.stringify(record).includes('print(1)') && !JSON.stringify(record).includes('héllo'));
  });

  it('a killed run carries why; the audit is summarized by event', () => {
    const result: ExecuteResult = {
      ...base, status: 'timeout', message: 'the run exceeded its wall-clock limit (timeoutMs) and was killed', exitCode: null, signal: 'SIGKILL', stdoutTruncated: true,
      audit: { events: [{ event: 'open', detail: "'/etc/x', 'r'", count: 2 }, { event: 'open', detail: "'/etc/y', 'r'", count: 1 }, { event: 'socket.connect', detail: "('1.2.3.4', 80)", count: 1 }], dropped: 3 },
    };
    const record = executionRecord({ code: 'x', session: 's1', files: [{ path: 'a', content: '' }] }, { ...context, client: undefined }, { result }, 1000);
    assert.equal(record.kill, 'the run exceeded its wall-clock limit (timeoutMs) and was killed');
    assert.deepEqual(record.audit, { open: 3, 'socket.connect': 1, dropped: 3 });
    assert.deepEqual([record.client, record.session, record.files, record.truncated, record.signal], [null, 's1', 1, true, 'SIGKILL']);
  });

  it('a refused request: the error code and message, status "refused"', () => {
    const record = executionRecord({ code: '' }, { ...context, limits: undefined }, { error: { code: -32001, message: 'busy: 256 executes are queued' } }, 1000);
    assert.deepEqual([record.status, record.error, record.limits], ['refused', { code: -32001, message: 'busy: 256 executes are queued' }, null]);
  });
});
