import assert from 'node:assert/strict';
import { startBroker, type SecurityBroker } from './harness.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * THREATS: floods of lines, one giant line without a newline, invalid UTF-8, multi-byte characters
 * split across reads, a flood on stderr while stdout is quiet (pipe deadlock). Issue 2: output beyond
 * maxOutputBytes is cut at the limit (flags say so) and the run stopped with "output_limit"; UTF-8 is
 * decoded without ever splitting a character between chunks; invalid bytes become U+FFFD.
 */
describe('security: hostile output', function () {
  this.timeout(30_000);
  let broker: SecurityBroker;

  before(async () => {
    broker = await startBroker();
  });
  after(async () => broker?.close());

  it('a flood of lines is cut at exactly maxOutputBytes and stopped with output_limit', async () => {
    const limit = 64 * KiB;
    const result = await broker.execute({ code: 'i = 0\nwhile True:\n    print(i)\n    i += 1', limits: { maxOutputBytes: limit, timeoutMs: 10_000 } });
    assert.equal(result.status, 'output_limit', JSON.stringify({ ...result, stdout: result.stdout.length }));
    assert.equal(result.stdoutTruncated, true);
    assert.equal(result.stderrTruncated, false);
    assert.equal(Buffer.byteLength(result.stdout), limit);
    let expected = '';
    for (let i = 0; expected.length < limit; i++) expected += `${i}\n`;
    assert.equal(result.stdout, expected.slice(0, limit));
    assert.equal(result.stderr, '');
    assert.ok(result.usage.wallMs < 5000, `${result.usage.wallMs} ms`);
  });

  it('a bounded flood under the limit arrives whole and in order', async () => {
    const result = await broker.execute({ code: 'import sys\nfor i in range(20000):\n    sys.stdout.write("line %d\\n" % i)' });
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join(''));
    assert.equal(result.stdoutTruncated, false);
  });

  it('one giant line without a newline: kept whole under the limit, cut exactly over it', async () => {
    const under = await broker.execute({ code: 'import os\nos.write(1, b"x" * (700 * 1024))', limits: { maxOutputBytes: MiB } });
    assert.equal(under.status, 'ok');
    assert.equal(under.stdout, 'x'.repeat(700 * KiB));
    const over = await broker.execute({ code: 'import sys\nsys.stdout.write("y" * (3 * 1024 * 1024))\nsys.stdout.flush()', limits: { maxOutputBytes: MiB } });
    assert.equal(over.status, 'output_limit');
    assert.equal(over.stdout, 'y'.repeat(MiB));
    assert.equal(over.stdoutTruncated, true);
  });

  it('invalid UTF-8 written at the fd level becomes U+FFFD, the valid text around it intact', async () => {
    const result = await broker.execute({ code: String.raw`import os
os.write(1, b'a\xff\xfeb')
os.write(1, b'|\xc3(|')
os.write(1, b'\xed\xa0\x80|')
os.write(2, b'e\x80r')` });
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, Buffer.from([0x61, 0xff, 0xfe, 0x62, 0x7c, 0xc3, 0x28, 0x7c, 0xed, 0xa0, 0x80, 0x7c]).toString('utf8'));
    assert.equal(result.stdout, 'a\uFFFD\uFFFDb|\uFFFD(|\uFFFD\uFFFD\uFFFD|');
    assert.equal(result.stderr, 'e\uFFFDr');
  });

  it('multi-byte characters split across writes (and reads) come out whole, in the result and in every streamed chunk', async () => {
    const code = String.raw`import os, time
euro = '€'.encode()
emoji = '😀'.encode()
for cut in (1, 2):
    os.write(1, euro[:cut]); time.sleep(0.03); os.write(1, euro[cut:])
for cut in (1, 2, 3):
    os.write(1, emoji[:cut]); time.sleep(0.03); os.write(1, emoji[cut:])
for b in ('ü' * 3 + '日本').encode():
    os.write(1, bytes([b]))
    time.sleep(0.002)
os.write(2, euro[:1]); time.sleep(0.03); os.write(2, euro[1:])
`;
    const chunks: { stream: string; text: string }[] = [];
    const result = await broker.execute({ code }, { onOutput: (stream, text) => chunks.push({ stream, text }) });
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, '€€😀😀😀üüü日本');
    assert.equal(result.stderr, '€');
    assert.ok(chunks.length > 3, 'output did not stream in several chunks');
    for (const chunk of chunks) assert.ok(!chunk.text.includes('\uFFFD') && !/[\uD800-\uDBFF]$/.test(chunk.text), `a chunk split a character: ${JSON.stringify(chunk)}`);
    assert.equal(chunks.filter((c) => c.stream === 'stdout').map((c) => c.text).join(''), result.stdout);
  });

  it('the cut at maxOutputBytes never splits a character', async () => {
    const result = await broker.execute({ code: 'import os\nos.write(1, "€".encode() * 10)', limits: { maxOutputBytes: 10 } });
    assert.equal(result.status, 'output_limit');
    assert.equal(result.stdout, '€€€'); // 9 bytes: the 4th euro would cross the limit
    assert.equal(result.stdoutTruncated, true);
  });

  it('a character left dangling at the end of the output becomes one U+FFFD', async () => {
    const result = await broker.execute({ code: "import os\nos.write(1, b'ok\\xe2\\x82')" });
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, 'ok\uFFFD');
  });

  it('a flood on stderr while stdout is quiet does not deadlock: cut and stopped with output_limit', async () => {
    const result = await broker.execute({ code: 'import os\nwhile True:\n    os.write(2, b"e" * 65536)', limits: { maxOutputBytes: 256 * KiB, timeoutMs: 10_000 } });
    assert.equal(result.status, 'output_limit');
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'e'.repeat(256 * KiB));
    assert.equal(result.stderrTruncated, true);
    assert.equal(result.stdoutTruncated, false);
    assert.ok(result.usage.wallMs < 5000);
  });

  it('4 MiB on stderr then a line on stdout, under the limit: no deadlock, everything kept', async () => {
    const result = await broker.execute({ code: 'import os, sys\nfor _ in range(64):\n    os.write(2, b"E" * 65536)\nprint("done")', limits: { maxOutputBytes: 8 * MiB, timeoutMs: 10_000 } });
    assert.equal(result.status, 'ok');
    assert.equal(result.stdout, 'done\n');
    assert.equal(result.stderr.length, 4 * MiB);
    assert.ok(/^E+$/.test(result.stderr));
  });

  it('both streams flooding share one budget', async () => {
    const limit = 100 * KiB;
    const result = await broker.execute({ code: 'import os\nwhile True:\n    os.write(1, b"o" * 4096)\n    os.write(2, b"e" * 4096)', limits: { maxOutputBytes: limit } });
    assert.equal(result.status, 'output_limit');
    assert.equal(Buffer.byteLength(result.stdout) + Buffer.byteLength(result.stderr), limit);
    assert.ok(result.stdoutTruncated || result.stderrTruncated);
    assert.ok(/^o*$/.test(result.stdout) && /^e*$/.test(result.stderr));
  });

  it('a subprocess writing at the fd level is captured and counted against the same budget', async () => {
    const result = await broker.execute({ code: "import subprocess\nsubprocess.run(['/usr/bin/yes', 'flood'])", limits: { maxOutputBytes: 32 * KiB } });
    assert.equal(result.status, 'output_limit');
    assert.equal(result.stdout, 'flood\n'.repeat(Math.ceil((32 * KiB) / 6)).slice(0, 32 * KiB));
  });
});
