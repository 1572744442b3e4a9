import type { Writable } from 'node:stream';
import { AbstractMessageWriter, type Message, type MessageWriter } from 'vscode-jsonrpc';

/**
 * LSP framing in one write per message. vscode-jsonrpc's StreamMessageWriter writes the header, waits for
 * it, then the body: two pipe writes a tick apart, so the reader wakes twice per message (measured: a
 * ping round trip over stdio took 0.64 ms with it on both ends, against 0.14 ms for a raw echo).
 */
export class FramedMessageWriter extends AbstractMessageWriter implements MessageWriter {
  private errors = 0;

  /** `onResponse`: told of each response the connection writes (the reader tracks requests in flight). */
  constructor(private readonly stream: Writable, private readonly onResponse?: (id: string | number | null) => void) {
    super();
    stream.on('error', (error: Error) => this.fireError(error));
    stream.on('close', () => this.fireClose());
  }

  write(message: Message): Promise<void> {
    if (this.onResponse && 'id' in message && ('result' in message || 'error' in message)) this.onResponse((message as { id: string | number | null }).id);
    return this.writeFrame(message);
  }

  /** A frame the connection does not know of (the reader's own answers to faults). */
  writeFrame(message: Message): Promise<void> {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    const frame = Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
    return new Promise((resolve, reject) => {
      this.stream.write(frame, (error) => {
        if (!error) return resolve();
        this.fireError(error, message, ++this.errors);
        reject(error);
      });
    });
  }

  end(): void {
    this.stream.end();
  }
}
