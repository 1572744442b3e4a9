import assert from 'node:assert/strict';
import { OutputCollector, utf8Boundary, type StreamName } from '../../src/worker/output.js';

const EURO = [0xe2, 0x82, 0xac]; // €
const GRIN = [0xf0, 0x9f, 0x98, 0x80]; // 😀
const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

/** A collector that records what it streamed and how often it overflowed. */
function collect(budget: number) {
  const streamed: [StreamName, string][] = [];
  let overflows = 0;
  const collector = new OutputCollector(budget, (stream, text) => streamed.push([stream, text]), () => (overflows += 1));
  return { collector, streamed, overflows: () => overflows };
}

describe('worker/output utf8Boundary', () => {
  const rows: [name: string, chunk: Buffer, limit: number, expected: number][] = [
    ['ascii, cut inside', bytes('abc'), 2, 2],
    ['ascii, limit past the end', bytes('abc'), 5, 3],
    ['limit 0', bytes('abc'), 0, 0],
    ['empty chunk', bytes(), 3, 0],
    ['cut before a 3-byte char', bytes('ab', EURO), 2, 2],
    ['cut after its first byte', bytes('ab', EURO), 3, 2],
    ['cut after its second byte', bytes('ab', EURO), 4, 2],
    ['cut after it', bytes('ab', EURO), 5, 5],
    ['cut between two 3-byte chars', bytes(EURO, EURO, 'x'), 3, 3],
    ['cut inside the second', bytes(EURO, EURO, 'x'), 4, 3],
    ['cut inside a 4-byte char, 1 byte in', bytes(GRIN, 'x'), 1, 0],
    ['cut inside a 4-byte char, 2 bytes in', bytes(GRIN, 'x'), 2, 0],
    ['cut inside a 4-byte char, 3 bytes in', bytes(GRIN, 'x'), 3, 0],
    ['cut after a 4-byte char', bytes(GRIN, 'x'), 4, 4],
    ['a chunk that starts with continuation bytes (a char begun in the previous chunk)', bytes([0x82, 0xac], 'yz'), 1, 0],
    ['after those continuation bytes', bytes([0x82, 0xac], 'yz'), 2, 2],
    ['stray continuation bytes are not part of any character: cut at the limit', bytes('a', [0x80, 0x80, 0x80, 0x80]), 4, 4],
  ];
  for (const [name, chunk, limit, expected] of rows) it(`${name}: (${chunk.toString('hex')}, ${limit}) → ${expected}`, () => assert.equal(utf8Boundary(chunk, limit), expected));
});

describe('worker/output OutputCollector', () => {
  it('streams and keeps ascii in order, per stream', () => {
    const { collector, streamed, overflows } = collect(100);
    collector.push('stdout', bytes('hello '));
    collector.push('stderr', bytes('warn'));
    collector.push('stdout', bytes('world'));
    assert.deepEqual(collector.finish(), { stdout: 'hello world', stderr: 'warn' });
    assert.deepEqual(streamed, [['stdout', 'hello '], ['stderr', 'warn'], ['stdout', 'world']]);
    assert.deepEqual([collector.truncated, overflows()], [{ stdout: false, stderr: false }, 0]);
  });

  const splits: [name: string, chunks: number[][], expected: string][] = [
    ['€ split 1+1+1', [[0xe2], [0x82], [0xac]], '€'],
    ['€ split 2+1 with ascii around', [[0x61, 0xe2, 0x82], [0xac, 0x62]], 'a€b'],
    ['😀 split 2+2', [[0xf0, 0x9f], [0x98, 0x80]], '😀'],
    ['😀 split 1+3', [[0xf0], [0x9f, 0x98, 0x80]], '😀'],
    ['😀 split byte by byte', GRIN.map((b) => [b]), '😀'],
  ];
  for (const [name, chunks, expected] of splits) {
    it(`never splits a character between chunks: ${name}`, () => {
      const { collector, streamed } = collect(100);
      for (const chunk of chunks) collector.push('stdout', Buffer.from(chunk));
      assert.deepEqual(collector.finish(), { stdout: expected, stderr: '' });
      assert.ok(streamed.every(([, text]) => !text.includes('\ufffd')), JSON.stringify(streamed));
      assert.equal(streamed.map(([, text]) => text).join(''), expected);
    });
  }

  const invalid: [name: string, chunks: number[][], expected: string][] = [
    ['a lone 0xff', [[0xff]], '\ufffd'],
    ['0xff between letters', [[0x61, 0xff, 0x62]], 'a\ufffdb'],
    ['a lone continuation byte', [[0x61, 0x80, 0x62]], 'a\ufffdb'],
    ['a lead byte followed by ascii', [[0xe2, 0x41]], '\ufffdA'],
    ['a truncated character at the end of the output', [[0x61, 0xe2, 0x82]], 'a\ufffd'],
  ];
  for (const [name, chunks, expected] of invalid) {
    it(`invalid bytes become U+FFFD: ${name}`, () => {
      const { collector } = collect(100);
      for (const chunk of chunks) collector.push('stderr', Buffer.from(chunk));
      assert.deepEqual(collector.finish(), { stdout: '', stderr: expected });
    });
  }

  it('exactly the budget is not an overflow', () => {
    const { collector, overflows } = collect(5);
    collector.push('stdout', bytes('abc'));
    collector.push('stdout', bytes('de'));
    collector.push('stdout', bytes());
    assert.deepEqual(collector.finish(), { stdout: 'abcde', stderr: '' });
    assert.deepEqual([collector.truncated, overflows()], [{ stdout: false, stderr: false }, 0]);
  });

  it('cuts at the budget, flags the stream and reports the overflow once', () => {
    const { collector, streamed, overflows } = collect(5);
    collector.push('stdout', bytes('abcdefgh'));
    collector.push('stdout', bytes('more'));
    collector.push('stdout', bytes('and more'));
    assert.deepEqual(collector.finish(), { stdout: 'abcde', stderr: '' });
    assert.deepEqual(streamed, [['stdout', 'abcde']]);
    assert.deepEqual([collector.truncated, overflows()], [{ stdout: true, stderr: false }, 1]);
  });

  const cuts: [name: string, budget: number, chunks: number[][], expected: string][] = [
    ['a 3-byte char that does not fit is dropped whole', 4, [[0x61, 0x62, ...EURO]], 'ab'],
    ['a 4-byte char that does not fit is dropped whole', 3, [[0x61, ...GRIN]], 'a'],
    ['a char begun in an earlier chunk that does not fit is dropped whole', 3, [[0x61, 0xe2], [0x82, 0xac, 0x62]], 'a'],
    ['a char begun in an earlier chunk that fits exactly is kept', 4, [[0x61, 0xe2], [0x82, 0xac, 0x62]], 'a€'],
  ];
  for (const [name, budget, chunks, expected] of cuts) {
    it(`cuts on a character boundary: ${name}`, () => {
      const { collector, streamed, overflows } = collect(budget);
      for (const chunk of chunks) collector.push('stdout', Buffer.from(chunk));
      const out = collector.finish();
      assert.deepEqual(out, { stdout: expected, stderr: '' });
      assert.equal(streamed.map(([, text]) => text).join(''), expected);
      assert.ok(Buffer.byteLength(out.stdout) <= budget);
      assert.deepEqual([collector.truncated, overflows()], [{ stdout: true, stderr: false }, 1]);
    });
  }

  it('stdout and stderr share one budget; the flags say which stream lost bytes', () => {
    const { collector, streamed, overflows } = collect(6);
    collector.push('stdout', bytes('abcd'));
    collector.push('stderr', bytes('efgh'));
    assert.deepEqual(collector.truncated, { stdout: false, stderr: true });
    collector.push('stdout', bytes('ij'));
    assert.deepEqual(collector.finish(), { stdout: 'abcd', stderr: 'ef' });
    assert.deepEqual(streamed, [['stdout', 'abcd'], ['stderr', 'ef']]);
    assert.deepEqual([collector.truncated, overflows()], [{ stdout: true, stderr: true }, 1]);
  });

  it('after a cut on one stream, the other stream\'s flag stays false while it sends nothing', () => {
    const { collector, overflows } = collect(3);
    collector.push('stderr', bytes('x'));
    collector.push('stdout', bytes('abcdef'));
    assert.deepEqual(collector.finish(), { stdout: 'ab', stderr: 'x' });
    assert.deepEqual([collector.truncated, overflows()], [{ stdout: true, stderr: false }, 1]);
  });
});
