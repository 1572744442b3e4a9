import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { FramedMessageWriter } from '../../src/rpc/writer.js';

/** A stream that records each write() call separately. */
function recorder(): { stream: Writable; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const stream = new Writable({ write(chunk: Buffer, _encoding, done) { writes.push(Buffer.from(chunk)); done(); } });
  return { stream, writes };
}

describe('rpc/writer FramedMessageWriter', () => {
  const rows = [
    { name: 'ascii', message: { jsonrpc: '2.0', id: 1, result: null }, body: '{"jsonrpc":"2.0","id":1,"result":null}' },
    { name: 'Content-Length counts UTF-8 bytes, not characters', message: { jsonrpc: '2.0', method: 'm', params: { t: 'é→😀' } }, body: '{"jsonrpc":"2.0","method":"m","params":{"t":"é→😀"}}' },
  ];
  for (const row of rows) {
    it(`one write per message, header and body together: ${row.name}`, async () => {
      const { stream, writes } = recorder();
      await new FramedMessageWriter(stream).write(row.message as never);
      const bytes = Buffer.byteLength(row.body, 'utf8');
      assert.equal(writes.length, 1);
      assert.equal(writes[0]!.toString('utf8'), `Content-Length: ${bytes}\r\n\r\n${row.body}`);
    });
  }

  it('keeps the order of messages written without waiting', async () => {
    const { stream, writes } = recorder();
    const writer = new FramedMessageWriter(stream);
    await Promise.all([1, 2, 3].map((id) => writer.write({ jsonrpc: '2.0', id, result: id } as never)));
    assert.deepEqual(writes.map((w) => /"id":(\d)/.exec(w.toString())![1]), ['1', '2', '3']);
  });

  it('a failed write rejects and is reported as an error of the writer', async () => {
    const stream = new Writable({ write(_chunk, _encoding, done) { done(new Error('EPIPE')); } });
    stream.on('error', () => undefined);
    const writer = new FramedMessageWriter(stream);
    const reported: string[] = [];
    writer.onError(([error]) => reported.push(error.message));
    await assert.rejects(writer.write({ jsonrpc: '2.0', id: 1, result: 1 } as never), /EPIPE/);
    assert.ok(reported.includes('EPIPE'), `reported: ${JSON.stringify(reported)}`);
  });
});
