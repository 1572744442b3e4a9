import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { Message, ResponseMessage } from 'vscode-jsonrpc';
import { envelopeProblem, MAX_MESSAGE_BYTES, TolerantMessageReader } from '../../src/rpc/reader.js';

const frame = (body: string | Buffer): Buffer => {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n\r\n`), bytes]);
};
const json = (value: unknown): Buffer => frame(JSON.stringify(value));
const GOOD = { jsonrpc: '2.0', id: 99, method: 'broker/status' };

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A reader on an in-memory stream, recording what it delivered and what it answered by itself. Each
 * delivered request is answered at once, as the connection would, unless `holdAnswers`.
 */
function open(holdAnswers = false) {
  const input = new PassThrough();
  const replies: ResponseMessage[] = [];
  const messages: Message[] = [];
  const reader = new TolerantMessageReader(input, (response) => replies.push(response));
  const closes: number[] = [];
  reader.onClose(() => closes.push(1));
  reader.listen((message) => {
    messages.push(message);
    const request = message as { id?: string | number; method?: string };
    if (!holdAnswers && request.method !== undefined && request.id !== undefined) reader.answered(request.id);
  });
  const send = async (...chunks: (string | Buffer)[]): Promise<void> => {
    for (const chunk of chunks) input.write(chunk);
    await flush();
  };
  return { input, reader, replies, messages, send, closes };
}

const parseError = (message: string): ResponseMessage => ({ jsonrpc: '2.0', id: null, error: { code: -32700, message: `parse error: ${message}` } });
const invalidRequest = (id: string | number | null, problem: string): ResponseMessage => ({ jsonrpc: '2.0', id, error: { code: -32600, message: `invalid request: ${problem}` } });

describe('rpc/reader TolerantMessageReader', () => {
  describe('valid frames pass through', () => {
    const rows: [name: string, value: Message][] = [
      ['a request', { jsonrpc: '2.0', id: 1, method: 'execute', params: { code: 'print(1)' } } as Message],
      ['a request with a string id and array params', { jsonrpc: '2.0', id: 'a-1', method: 'x', params: [1, 2] } as Message],
      ['a notification', { jsonrpc: '2.0', method: 'exit' } as Message],
      ['a notification with params', { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } } as Message],
      ['a response', { jsonrpc: '2.0', id: 3, result: null } as Message],
      ['an error response', { jsonrpc: '2.0', id: 3, error: { code: 1, message: 'x' } } as Message],
    ];
    for (const [name, value] of rows) {
      it(name, async () => {
        const r = open();
        await r.send(json(value));
        assert.deepEqual([r.messages, r.replies], [[value], []]);
      });
    }

    it('several frames in one chunk, in order', async () => {
      const r = open();
      await r.send(Buffer.concat([json({ ...GOOD, id: 1 }), json({ ...GOOD, id: 2 }), json({ ...GOOD, id: 3 })]));
      assert.deepEqual(r.messages.map((m) => (m as unknown as { id: number }).id), [1, 2, 3]);
      assert.deepEqual(r.replies, []);
    });

    it('frames split across many chunks, byte by byte, with multi-byte characters', async () => {
      const r = open();
      const values = [{ jsonrpc: '2.0', id: 1, method: 'execute', params: { code: 'print("é€😀")' } }, GOOD];
      const all = Buffer.concat(values.map(json));
      for (const byte of all) r.input.write(Buffer.from([byte]));
      await flush();
      assert.deepEqual([r.messages, r.replies], [values, []]);
    });

    it('frames cut at every possible point', async () => {
      const all = Buffer.concat([json({ ...GOOD, id: 1 }), json({ ...GOOD, id: 2, params: { s: 'ü' } })]);
      for (let cut = 1; cut < all.length; cut++) {
        const r = open();
        await r.send(all.subarray(0, cut), all.subarray(cut));
        assert.deepEqual([r.messages.length, r.replies], [2, []], `cut at ${cut}`);
      }
    });

    it('header names in any case, an extra header after Content-Length, no space after the colon', async () => {
      const r = open();
      const body = JSON.stringify(GOOD);
      await r.send(`content-length:${body.length}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n${body}`);
      await r.send(`CONTENT-LENGTH: ${body.length}\r\n\r\n${body}`);
      assert.deepEqual([r.messages, r.replies], [[GOOD, GOOD], []]);
    });

    it('headers in any order: Content-Type before Content-Length is a valid frame, not junk', async () => {
      const r = open();
      const body = JSON.stringify(GOOD);
      await r.send(`Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      assert.deepEqual([r.messages, r.replies], [[GOOD], []]);
    });
  });

  describe('faults are answered and the next valid frame is still delivered', () => {
    const rows: [name: string, bad: string | Buffer, replies: ResponseMessage[]][] = [
      ['junk before a header', 'garbage', [parseError('junk before a header (7 bytes) was skipped')]],
      ['a blank line before a header', '\r\n', [parseError('junk before a header (2 bytes) was skipped')]],
      ['invalid UTF-8', frame(Buffer.from([0x22, 0xff, 0x22])), [parseError('body is not valid UTF-8')]],
      ['an overlong UTF-8 encoding', frame(Buffer.from([0x22, 0xc0, 0xaf, 0x22])), [parseError('body is not valid UTF-8')]],
      ['a batch', json([GOOD]), [invalidRequest(null, 'batches are not supported')]],
      ['an empty batch', json([]), [invalidRequest(null, 'batches are not supported')]],
      ['a number', json(42), [invalidRequest(null, 'a message must be a JSON object')]],
      ['a string', json('hi'), [invalidRequest(null, 'a message must be a JSON object')]],
      ['null', json(null), [invalidRequest(null, 'a message must be a JSON object')]],
      ['jsonrpc "1.0", id echoed', json({ jsonrpc: '1.0', id: 7, method: 'x' }), [invalidRequest(7, 'jsonrpc must be "2.0"')]],
      ['no jsonrpc, string id echoed', json({ id: 'abc', method: 'x' }), [invalidRequest('abc', 'jsonrpc must be "2.0"')]],
      ['an object id', json({ jsonrpc: '2.0', id: {}, method: 'x' }), [invalidRequest(null, 'id must be a string or a number')]],
      ['a boolean id', json({ jsonrpc: '2.0', id: true, method: 'x' }), [invalidRequest(null, 'id must be a string or a number')]],
      ['an array id', json({ jsonrpc: '2.0', id: [1], method: 'x' }), [invalidRequest(null, 'id must be a string or a number')]],
      ['a numeric method, id echoed', json({ jsonrpc: '2.0', id: 3, method: 5 }), [invalidRequest(3, 'method must be a string')]],
      ['params that are a number, id echoed', json({ jsonrpc: '2.0', id: 4, method: 'x', params: 5 }), [invalidRequest(4, 'params must be an object or an array')]],
      ['params that are null', json({ jsonrpc: '2.0', id: 4, method: 'x', params: null }), [invalidRequest(4, 'params must be an object or an array')]],
      ['neither a request nor a response, id echoed', json({ jsonrpc: '2.0', id: 5 }), [invalidRequest(5, 'neither a request, a notification nor a response')]],
      ['a response without an id', json({ jsonrpc: '2.0', result: 1 }), [invalidRequest(null, 'neither a request, a notification nor a response')]],
    ];
    for (const [name, bad, replies] of rows) {
      it(name, async () => {
        const r = open();
        await r.send(bad, json(GOOD));
        assert.deepEqual([r.replies, r.messages], [replies, [GOOD]]);
      });
    }

    const badJson: [name: string, body: string][] = [['truncated JSON', '{"jsonrpc":'], ['an empty body', ''], ['trailing garbage', '{"jsonrpc":"2.0","method":"x"} x'], ['NaN', 'NaN']];
    for (const [name, body] of badJson) {
      it(`invalid JSON: ${name} → -32700`, async () => {
        const r = open();
        await r.send(frame(body), json(GOOD));
        assert.equal(r.replies.length, 1);
        assert.deepEqual({ ...r.replies[0], error: { ...r.replies[0]!.error!, message: '' } }, { jsonrpc: '2.0', id: null, error: { code: -32700, message: '' } });
        assert.match(r.replies[0]!.error!.message, /^parse error: body is not valid JSON: \S/);
        assert.deepEqual(r.messages, [GOOD]);
      });
    }

    const badLengths = ['abc', '-5', '1e3', '', '0x10', '12345678901234567'];
    for (const value of badLengths) {
      it(`Content-Length ${JSON.stringify(value)} → -32700, then the next frame`, async () => {
        const r = open();
        await r.send(`Content-Length: ${value}\r\n\r\n{}`, json(GOOD));
        assert.ok(r.replies.length >= 1);
        assert.deepEqual(r.replies[0], parseError('invalid Content-Length header'));
        assert.ok(r.replies.every((reply) => reply.error?.code === -32700 && reply.id === null), JSON.stringify(r.replies));
        assert.deepEqual(r.messages, [GOOD]);
      });
    }

    it('a header without Content-Length → -32700, then the next frame', async () => {
      const r = open();
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x' });
      await r.send(`Content-Type: application/json\r\n\r\n${body}`, json(GOOD));
      assert.equal(r.replies.length, 1);
      assert.equal(r.replies[0]!.error!.code, -32700);
      assert.deepEqual(r.messages, [GOOD]);
    });

    it('more than 8 KiB without any header → -32700, then the next frame (separate chunks)', async () => {
      const r = open();
      await r.send('x'.repeat(9000));
      await r.send(json(GOOD));
      assert.deepEqual([r.replies, r.messages], [[parseError('no valid header found (missing Content-Length or header too long)')], [GOOD]]);
    });

    it('more than 8 KiB of junk followed by a valid frame in the same chunk: the frame is not lost', async () => {
      const r = open();
      await r.send(Buffer.concat([Buffer.from('x'.repeat(9000)), json(GOOD)]));
      assert.equal(r.replies.length, 1);
      assert.equal(r.replies[0]!.error!.code, -32700);
      assert.deepEqual(r.messages, [GOOD]);
    });

    it('many faults in a row, each answered, then the good frame', async () => {
      const r = open();
      await r.send(json([]), frame('{'), json(1), json({ jsonrpc: '2.0', id: 8, method: 1 }), json(GOOD));
      assert.deepEqual(r.replies.map((reply) => [reply.id, reply.error!.code]), [[null, -32600], [null, -32700], [null, -32600], [8, -32600]]);
      assert.deepEqual(r.messages, [GOOD]);
    });
  });

  describe('oversized frames', function () {
    this.timeout(20_000);

    it('a declared length over the limit is answered at once and skipped without buffering; the next frame is delivered', async () => {
      const r = open();
      const length = MAX_MESSAGE_BYTES + 1;
      await r.send(`Content-Length: ${length}\r\n\r\n`);
      assert.deepEqual(r.replies, [parseError(`message of ${length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit and was skipped`)]);
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      const baseline = process.memoryUsage().arrayBuffers;
      let sent = 0;
      let peak = 0;
      while (length - sent > chunk.length) {
        if (!r.input.write(chunk)) await new Promise((resolve) => r.input.once('drain', resolve));
        sent += chunk.length;
        if (sent % (16 * chunk.length) === 0) {
          await flush();
          peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
        }
      }
      // The rest of the body and the next frame arrive together.
      await r.send(Buffer.concat([chunk.subarray(0, length - sent), json(GOOD)]));
      assert.ok(peak < 32 * 1024 * 1024, `the skipped body was buffered: ${peak} bytes`);
      assert.equal(r.replies.length, 1);
      assert.deepEqual(r.messages, [GOOD]);
    });

    it('exactly the limit is not refused for its size (a small body with a huge declared length is just waited for)', async () => {
      const r = open();
      await r.send(`Content-Length: ${MAX_MESSAGE_BYTES}\r\n\r\n{}`);
      assert.deepEqual([r.replies, r.messages], [[], []]);
    });
  });

  it('end of input closes the reader', async () => {
    const r = open();
    r.input.end();
    await flush();
    assert.ok(r.closes.length >= 1);
  });
});

describe('rpc/reader envelopeProblem', () => {
  const rows: [value: unknown, problem: string | undefined][] = [
    [{ jsonrpc: '2.0', id: 1, method: 'x' }, undefined],
    [{ jsonrpc: '2.0', id: 'a', method: 'x', params: {} }, undefined],
    [{ jsonrpc: '2.0', method: 'x', params: [] }, undefined],
    [{ jsonrpc: '2.0', id: 1, result: 0 }, undefined],
    [{ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'x' } }, undefined],
    [[], 'batches are not supported'],
    [null, 'a message must be a JSON object'],
    [1, 'a message must be a JSON object'],
    [{ jsonrpc: 2, id: 1, method: 'x' }, 'jsonrpc must be "2.0"'],
    [{ jsonrpc: '2.0', id: 1, method: null }, 'method must be a string'],
    [{ jsonrpc: '2.0', id: false, method: 'x' }, 'id must be a string or a number'],
    [{ jsonrpc: '2.0', id: 1, method: 'x', params: 'p' }, 'params must be an object or an array'],
    [{ jsonrpc: '2.0' }, 'neither a request, a notification nor a response'],
    [{ jsonrpc: '2.0', result: 1 }, 'neither a request, a notification nor a response'],
  ];
  for (const [value, problem] of rows) it(`${JSON.stringify(value)} → ${problem ?? 'ok'}`, () => assert.equal(envelopeProblem(value), problem));
});

describe('rpc/reader: ids in flight and cancels', () => {
  it('a second request with the id of one not yet answered gets -32600 with that id; the first is delivered once', async () => {
    const r = open(true);
    const dup = { jsonrpc: '2.0', id: 7, method: 'no/such' };
    await r.send(json({ ...GOOD, id: 7 }), json(dup));
    assert.deepEqual(r.messages, [{ ...GOOD, id: 7 }]);
    assert.deepEqual(r.replies, [invalidRequest(7, 'id 7 is already used by a request in flight (ids are compared as strings, so 1 and "1" are the same)')]);
  });

  it('1 and "1" are the same id in flight (the connection keys requests by String(id))', async () => {
    const r = open(true);
    await r.send(json({ ...GOOD, id: 1 }), json({ ...GOOD, id: '1' }));
    assert.equal(r.messages.length, 1);
    assert.deepEqual(r.replies, [invalidRequest('1', 'id "1" is already used by a request in flight (ids are compared as strings, so 1 and "1" are the same)')]);
  });

  it('once the first is answered, its id may be used again', async () => {
    const r = open(true);
    await r.send(json({ ...GOOD, id: 5 }));
    r.reader.answered(5);
    await r.send(json({ ...GOOD, id: 5 }));
    assert.deepEqual([r.messages.length, r.replies], [2, []]);
  });

  it('a $/cancelRequest notification without a string or number params.id is ignored, not delivered (it crashed vscode-jsonrpc)', async () => {
    const r = open();
    for (const params of [undefined, {}, [], [1], { id: null }, { id: { toString: 1 } }, { id: [1] }]) {
      await r.send(json({ jsonrpc: '2.0', method: '$/cancelRequest', ...(params === undefined ? {} : { params }) }));
    }
    const good = { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 3 } };
    await r.send(json(good));
    assert.deepEqual([r.messages, r.replies], [[good], []]);
  });

  it('a request that throws inside the connection still gets its one answer (-32603), and reading goes on', async () => {
    const input = new PassThrough();
    const replies: ResponseMessage[] = [];
    const reader = new TolerantMessageReader(input, (response) => replies.push(response));
    let calls = 0;
    reader.listen(() => {
      calls += 1;
      if (calls === 1) throw new Error('boom');
    });
    input.write(json({ ...GOOD, id: 1 }));
    input.write(json({ ...GOOD, id: 1 }));
    await flush();
    assert.deepEqual(replies, [{ jsonrpc: '2.0', id: 1, error: { code: -32603, message: 'internal error: boom' } }]);
    assert.equal(calls, 2, 'the id was released with the error answer and the next request delivered');
  });
});
