import type { Readable } from 'node:stream';
import { AbstractMessageReader, type DataCallback, type Disposable, type Message, type ResponseMessage } from 'vscode-jsonrpc';
import { ErrorCode } from '../errors.js';

/** Largest body the broker reads; a larger declared Content-Length is skipped byte by byte, never buffered. */
export const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
const MAX_HEADER_BYTES = 8 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const CANCEL = '$/cancelRequest';

/**
 * LSP base-protocol framing (Content-Length + body) with the faults answered instead of fatal:
 * a bad header, an oversized or non-UTF-8 body or invalid JSON gets a -32700 response, a non-JSON-RPC value
 * a -32600 response, and reading carries on with the next frame.
 */
export class TolerantMessageReader extends AbstractMessageReader {
  private buffer: Buffer = Buffer.alloc(0);
  private skip = 0;
  /** Bytes (header included) of the frame being collected in parts, or 0. */
  private need = 0;
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** Set by a parse error, cleared by the next well-framed message: junk left over from one fault gets no second answer. */
  private afterFault = false;
  private callback: DataCallback | undefined;
  /** String(id) of each request handed to the connection and not yet answered. */
  private readonly inFlight = new Set<string>();
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly input: Readable, private readonly reply: (response: ResponseMessage) => void) {
    super();
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback;
    const onData = (chunk: Buffer): void => this.onData(chunk);
    const onEnd = (): void => this.fireClose();
    const onError = (error: Error): void => this.fireError(error);
    this.input.on('data', onData);
    this.input.on('end', onEnd);
    this.input.on('close', onEnd);
    this.input.on('error', onError);
    return {
      dispose: () => {
        this.input.off('data', onData);
        this.input.off('end', onEnd);
        this.input.off('close', onEnd);
        this.input.off('error', onError);
      },
    };
  }

  private onData(chunk: Buffer): void {
    if (this.skip > 0) {
      const dropped = Math.min(this.skip, chunk.length);
      this.skip -= dropped;
      chunk = chunk.subarray(dropped);
    }
    if (this.need > 0) {
      // A frame whose length is known: collect its chunks and join them once (joining on every chunk
      // made a 64 MiB body cost ~20 s of copying, during which no timer or monitor ran).
      this.parts.push(chunk);
      this.partsLength += chunk.length;
      if (this.partsLength < this.need) return;
      chunk = Buffer.concat(this.parts, this.partsLength);
      this.parts = [];
      this.partsLength = 0;
      this.need = 0;
    } else if (this.buffer.length > 0) {
      chunk = Buffer.concat([this.buffer, chunk]);
    }
    this.buffer = chunk;
    while (this.skip === 0 && this.nextFrame());
  }

  /** Takes one frame off the buffer if a whole one is there; false when more bytes are needed. */
  private nextFrame(): boolean {
    const end = this.buffer.indexOf(HEADER_END);
    if (end < 0) {
      if (this.buffer.length > MAX_HEADER_BYTES) {
        // No header in sight: drop the junk, keeping a tail in case a header is starting there.
        this.buffer = this.buffer.subarray(this.buffer.length - 64);
        if (!this.afterFault) this.parseError('no valid header found (missing Content-Length or header too long)');
      }
      return false;
    }
    const block = this.buffer.subarray(0, end).toString('latin1');
    const bodyStart = end + HEADER_END.length;
    const headerStart = findHeaderStart(block);
    if (headerStart === undefined) {
      this.buffer = this.buffer.subarray(bodyStart);
      this.parseError('a header without Content-Length');
      return true;
    }
    if (headerStart > 0) {
      this.buffer = this.buffer.subarray(headerStart);
      if (!this.afterFault) this.parseError(`junk before a header (${headerStart} bytes) was skipped`); // one fault, one answer
      return true;
    }
    const length = parseContentLength(block);
    if (length === undefined) {
      this.buffer = this.buffer.subarray(bodyStart);
      this.parseError('invalid Content-Length header');
      return true;
    }
    if (length > MAX_MESSAGE_BYTES) {
      const available = this.buffer.length - bodyStart;
      this.skip = Math.max(0, length - available);
      this.buffer = this.buffer.subarray(Math.min(this.buffer.length, bodyStart + length));
      this.parseError(`message of ${length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit and was skipped`);
      return true;
    }
    if (this.buffer.length < bodyStart + length) {
      this.need = bodyStart + length;
      this.parts = [this.buffer];
      this.partsLength = this.buffer.length;
      this.buffer = Buffer.alloc(0);
      return false;
    }
    this.afterFault = false;
    const body = this.buffer.subarray(bodyStart, bodyStart + length);
    this.buffer = this.buffer.subarray(bodyStart + length);
    this.deliver(body);
    return true;
  }

  private deliver(body: Buffer): void {
    let value: unknown;
    try {
      value = JSON.parse(this.decoder.decode(body));
    } catch (error) {
      this.parseError(error instanceof TypeError ? 'body is not valid UTF-8' : `body is not valid JSON: ${(error as Error).message}`);
      return;
    }
    const problem = envelopeProblem(value);
    if (problem) {
      const id = isObject(value) && isId(value.id) ? value.id : null;
      this.reply({ jsonrpc: '2.0', id, error: { code: ErrorCode.InvalidRequest, message: `invalid request: ${problem}` } });
      return;
    }
    const message = value as Record<string, unknown>;
    // A cancel naming no usable id has nothing to cancel (and made vscode-jsonrpc throw): a notification, so no answer.
    if (message.method === CANCEL && !('id' in message) && !(isObject(message.params) && isId(message.params.id))) return;
    if (typeof message.method === 'string' && isId(message.id)) {
      // vscode-jsonrpc queues requests by String(id): a second one with the same key would silently replace the first.
      const key = String(message.id);
      if (this.inFlight.has(key)) {
        this.reply({ jsonrpc: '2.0', id: message.id, error: { code: ErrorCode.InvalidRequest, message: `invalid request: id ${JSON.stringify(message.id)} is already used by a request in flight (ids are compared as strings, so 1 and "1" are the same)` } });
        return;
      }
      this.inFlight.add(key);
    }
    try {
      this.callback?.(value as Message);
    } catch (error) {
      // Nothing the client sends may end the broker; a request still gets its one answer.
      if (typeof message.method === 'string' && isId(message.id)) {
        this.reply({ jsonrpc: '2.0', id: message.id, error: { code: ErrorCode.InternalError, message: `internal error: ${(error as Error).message}` } });
        this.answered(message.id);
      }
    }
  }

  /** The connection answered request `id`: its id may be used again. */
  answered(id: string | number | null): void {
    if (id !== null) this.inFlight.delete(String(id));
  }

  private parseError(message: string): void {
    this.afterFault = true;
    this.reply({ jsonrpc: '2.0', id: null, error: { code: ErrorCode.ParseError, message: `parse error: ${message}` } });
  }
}

const HEADER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*$/;

/**
 * Where the header of a block (the bytes before a blank line) begins: at its Content-Length line, or
 * earlier over well-formed header lines (Content-Type may come first). Anything before that is junk.
 */
export function findHeaderStart(block: string): number | undefined {
  const at = block.toLowerCase().lastIndexOf('content-length:');
  if (at < 0) return undefined;
  if (at > 0 && block.slice(at - 2, at) !== '\r\n') return at; // junk on the same line
  let start = at;
  while (start > 0) {
    const previous = block.lastIndexOf('\r\n', start - 3);
    const lineStart = previous < 0 ? 0 : previous + 2;
    if (!HEADER_LINE.test(block.slice(lineStart, start - 2))) break;
    start = lineStart;
  }
  return start;
}

function parseContentLength(header: string): number | undefined {
  for (const line of header.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-length') continue;
    const value = line.slice(colon + 1).trim();
    return /^\d{1,15}$/.test(value) ? Number(value) : undefined;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/** Why a parsed value is not a JSON-RPC 2.0 request, notification or response; undefined when it is one. */
export function envelopeProblem(value: unknown): string | undefined {
  if (Array.isArray(value)) return 'batches are not supported';
  if (!isObject(value)) return 'a message must be a JSON object';
  if (value.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  if ('method' in value) {
    if (typeof value.method !== 'string') return 'method must be a string';
    if ('id' in value && !isId(value.id)) return 'id must be a string or a number';
    if ('params' in value && (typeof value.params !== 'object' || value.params === null)) return 'params must be an object or an array';
    return undefined;
  }
  if ('id' in value && ('result' in value || 'error' in value)) return undefined;
  return 'neither a request, a notification nor a response';
}
