import assert from 'node:assert/strict';
import { LineSplitter } from '../../src/worker/lines.js';

function split(maxLineBytes: number, chunks: (string | number[])[], stopAfter?: number): { lines: string[]; overflows: number[] } {
  const lines: string[] = [];
  const overflows: number[] = [];
  const splitter: LineSplitter = new LineSplitter(maxLineBytes, (line) => {
    lines.push(line);
    if (lines.length === stopAfter) splitter.stop();
  }, (size) => overflows.push(size));
  for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return { lines, overflows };
}

describe('worker/lines LineSplitter', () => {
  const rows: [name: string, max: number, chunks: (string | number[])[], lines: string[], overflows: number[]][] = [
    ['one line', 100, ['{"a":1}\n'], ['{"a":1}'], []],
    ['several lines in one chunk', 100, ['a\nb\nc\n'], ['a', 'b', 'c'], []],
    ['a partial line is held until its newline', 100, ['ab', 'c', '\n'], ['abc'], []],
    ['a trailing partial line is not delivered', 100, ['x\ny\nz'], ['x', 'y'], []],
    ['a partial line completed by the next chunk, which holds more lines', 100, ['x\ny', '\nz\n'], ['x', 'y', 'z'], []],
    ['empty lines are lines', 100, ['\n\na\n'], ['', '', 'a'], []],
    ['byte by byte', 100, [...'ab\ncd\n'].map((c) => c), ['ab', 'cd'], []],
    ['a UTF-8 character split across chunks is decoded whole', 100, [[0x22, 0xe2], [0x82], [0xac, 0x22, 0x0a]], ['"€"'], []],
    ['a line of exactly the cap is fine (the newline does not count)', 4, ['abcd\n', 'efgh\n'], ['abcd', 'efgh'], []],
    ['a line over the cap overflows with its size so far and nothing after it is read', 4, ['abcde\n', 'ok\n'], [], [5]],
    ['the cap counts across chunks', 4, ['abc', 'de', 'fgh\n', 'ok\n'], [], [5]],
    ['a long line without a newline overflows at once, without waiting for one', 3, ['abcdefgh'], [], [8]],
    ['lines before the long one are delivered; overflow is reported once', 3, ['ab\nabcdef\nxy\n', 'zzzzzzz\n'], ['ab'], [6]],
  ];
  for (const [name, max, chunks, lines, overflows] of rows) it(name, () => assert.deepEqual(split(max, chunks), { lines, overflows }));

  it('stop() discards what is held and ignores what comes after', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(100, (line) => lines.push(line), () => assert.fail('overflow'));
    splitter.push(Buffer.from('a\nb'));
    splitter.stop();
    splitter.push(Buffer.from('c\nd\n'));
    assert.deepEqual(lines, ['a']);
  });

  it('stop() from inside onLine ends delivery of the rest of the chunk', () => {
    assert.deepEqual(split(100, ['a\nb\nc\n'], 1), { lines: ['a'], overflows: [] });
  });
});
