import assert from 'node:assert/strict';
import { checkFilesOut, toReturnFiles } from '../src/filesout.js';
import type { AgentFileOut } from '../src/protocol/agent.js';

const MiB = 1024 * 1024;
const limits = { timeoutMs: 1, cpuMs: 1, memoryBytes: 1, maxProcesses: 1, maxOutputBytes: 1, maxFileBytes: 16 * MiB };
const b64 = (text: string): string => Buffer.from(text).toString('base64');

describe('filesout', () => {
  it('toReturnFiles: absent or false collects nothing; true every file; a list those patterns; per-file bytes never above maxFileBytes', () => {
    assert.equal(toReturnFiles(undefined, limits), undefined);
    assert.equal(toReturnFiles(false, limits), undefined);
    assert.deepEqual(toReturnFiles(true, limits), { patterns: null, maxFiles: 100, maxBytes: 8 * MiB, maxFileBytes: 8 * MiB, maxDepth: 16, maxEntries: 10_000, timeMs: 1000 });
    assert.deepEqual(toReturnFiles(['*.png'], { ...limits, maxFileBytes: 1000 })?.patterns, ['*.png']);
    assert.equal(toReturnFiles(['*.png'], { ...limits, maxFileBytes: 1000 })?.maxFileBytes, 1000);
  });

  const bounds = { patterns: null, maxFiles: 2, maxBytes: 10, maxFileBytes: 6, maxDepth: 16, maxEntries: 100, timeMs: 1000 };
  const rows: { name: string; input: AgentFileOut[]; expected: ReturnType<typeof checkFilesOut> }[] = [
    { name: 'a good file: size measured here, not taken from the sandbox', input: [{ path: 'a/b.txt', size: 999, content: b64('hey') }], expected: [{ path: 'a/b.txt', size: 3, content: b64('hey') }] },
    { name: 'an error entry passes through', input: [{ path: 'x', error: 'name is not valid UTF-8' }], expected: [{ path: 'x', error: 'name is not valid UTF-8' }] },
    ...[['/etc/passwd', 'absolute'], ['../up', 'a "..", "." or empty component'], ['a//b', 'a "..", "." or empty component'], ['./a', 'a "..", "." or empty component'], ['', 'empty'], ['a\0b', 'NUL byte']].map(([path, why]) => ({
      name: `path ${JSON.stringify(path)} is dropped (${why})`,
      input: [{ path: path!, size: 1, content: b64('x') }],
      expected: [{ path: '(invalid)', error: `the sandbox reported an invalid path (${why}); dropped` }],
    })),
    { name: 'content that is not strict base64', input: [{ path: 'a', size: 1, content: 'a!==' }], expected: [{ path: 'a', error: 'the sandbox sent content that is not base64; dropped' }] },
    {
      name: 'per-file, total and count bounds are held again',
      input: [
        { path: 'big', size: 7, content: b64('1234567') },
        { path: 'a', size: 5, content: b64('12345') },
        { path: 'b', size: 5, content: b64('12345') },
        { path: 'c', size: 1, content: b64('1') },
      ],
      expected: [
        { path: 'big', error: 'exceeds the files-out bounds (2 files, 6 bytes each, 10 in all); dropped' },
        { path: 'a', size: 5, content: b64('12345') },
        { path: 'b', size: 5, content: b64('12345') },
        { path: 'c', error: 'exceeds the files-out bounds (2 files, 6 bytes each, 10 in all); dropped' },
      ],
    },
  ];
  for (const row of rows) it(`checkFilesOut: ${row.name}`, () => assert.deepEqual(checkFilesOut(row.input, bounds), row.expected));

  it('checkFilesOut: a flood of entries is cut at 2 × maxFiles + 3 (files, refusals and notes), with a note saying so', () => {
    const flood = Array.from({ length: 50 }, (_, i) => ({ path: `e${i}`, error: 'x' }));
    const out = checkFilesOut(flood, bounds);
    assert.equal(out.length, 8);
    assert.deepEqual(out.at(-1), { path: '.', error: 'the sandbox reported more entries than the bounds allow; the rest are dropped' });
  });

  it('checkFilesOut: "." is the working directory in a note about the whole search, never a file', () => {
    assert.deepEqual(checkFilesOut([{ path: '.', error: 'more than maxEntries entries in the working directory; the rest were not searched' }], bounds),
      [{ path: '.', error: 'more than maxEntries entries in the working directory; the rest were not searched' }]);
    assert.deepEqual(checkFilesOut([{ path: '.', size: 1, content: b64('x') }], bounds),
      [{ path: '(invalid)', error: 'the sandbox reported an invalid path (a "..", "." or empty component); dropped' }]);
  });
});
