import type { Readable, Writable } from 'node:stream';
import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { FramedMessageWriter } from './writer.js';
import { TolerantMessageReader } from './reader.js';

/** A JSON-RPC connection over a pair of streams (the broker's stdin/stdout), with tolerant framing. */
export function connectStreams(input: Readable, output: Writable): MessageConnection {
  // The reader refuses a second request with the id of one in flight, so it hears of every answer.
  const writer = new FramedMessageWriter(output, (id) => reader.answered(id));
  // A reply to a client that is gone is dropped (EPIPE must not become an unhandled rejection).
  const reader = new TolerantMessageReader(input, (response) => void writer.writeFrame(response).catch(() => undefined));
  return createMessageConnection(reader, writer);
}
