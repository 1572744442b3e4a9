import { StringDecoder } from 'node:string_decoder';

export type StreamName = 'stdout' | 'stderr';

/**
 * Collects a run's stdout and stderr under one byte budget. Decodes UTF-8 without ever splitting a
 * character between chunks (invalid bytes become U+FFFD), cuts at the budget on a character boundary,
 * and reports the first byte past it so the run can be stopped with "output_limit".
 */
export class OutputCollector {
  private readonly text: Record<StreamName, string[]> = { stdout: [], stderr: [] };
  private readonly decoders: Record<StreamName, StringDecoder> = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  readonly truncated: Record<StreamName, boolean> = { stdout: false, stderr: false };
  private kept = 0;

  constructor(
    private readonly budgetBytes: number,
    private readonly onText: (stream: StreamName, text: string) => void,
    private readonly onOverflow: () => void,
  ) {}

  push(stream: StreamName, chunk: Buffer): void {
    if (this.truncated.stdout || this.truncated.stderr) {
      this.truncated[stream] = true;
      return;
    }
    const room = this.budgetBytes - this.kept;
    if (chunk.length <= room) {
      this.kept += chunk.length;
      this.emit(stream, this.decoders[stream].write(chunk));
      return;
    }
    this.kept = this.budgetBytes;
    this.emit(stream, this.decoders[stream].write(chunk.subarray(0, utf8Boundary(chunk, room))));
    this.truncated[stream] = true;
    this.onOverflow();
  }

  /** Flushes what the decoders hold (a dangling partial character becomes U+FFFD, unless it was cut off). */
  finish(): { stdout: string; stderr: string } {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.decoders[stream].end();
      if (!this.truncated[stream]) this.emit(stream, rest);
    }
    return { stdout: this.text.stdout.join(''), stderr: this.text.stderr.join('') };
  }

  private emit(stream: StreamName, text: string): void {
    if (text.length === 0) return;
    this.text[stream].push(text);
    this.onText(stream, text);
  }
}

/** The largest n ≤ limit such that chunk[0..n) does not end inside a UTF-8 character. */
export function utf8Boundary(chunk: Buffer, limit: number): number {
  const n = Math.min(limit, chunk.length);
  if (n === chunk.length || !isContinuation(chunk[n]!)) return n;
  // chunk[n] continues a character: find its lead byte (at most 3 back) and cut before it if the character crosses n.
  let lead = n - 1;
  while (lead >= 0 && lead > n - 4 && isContinuation(chunk[lead]!)) lead--;
  if (lead < 0) return 0; // the character began in an earlier chunk and goes on past the cut
  const length = sequenceLength(chunk[lead]!);
  return length > 1 && lead + length > n ? lead : n;
}

function isContinuation(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

function sequenceLength(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  if (lead >= 0xe0) return lead <= 0xef ? 3 : 1;
  if (lead >= 0xc2) return 2;
  return 1; // ASCII, or a byte that starts no valid sequence
}
