/**
 * Splits a byte stream into lines with a hard cap on line length, so a worker cannot make the broker
 * buffer without bound. Bytes are kept as Buffers until a whole line is there: a UTF-8 character split
 * across reads is never decoded in halves.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private failed = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: (size: number) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      if (!this.append(chunk.subarray(start, nl))) return;
      const line = Buffer.concat(this.parts, this.size).toString('utf8');
      this.parts = [];
      this.size = 0;
      this.onLine(line);
      if (this.failed) return;
      start = nl + 1;
    }
    this.append(chunk.subarray(start));
  }

  private append(piece: Buffer): boolean {
    if (piece.length === 0) return true;
    this.size += piece.length;
    if (this.size > this.maxLineBytes) {
      this.failed = true;
      this.parts = [];
      this.onOverflow(this.size);
      return false;
    }
    this.parts.push(piece);
    return true;
  }

  /** Drops a partial line (one a process-mode run left unfinished), so that it cannot garble the next run's first. */
  discard(): void {
    this.parts = [];
    this.size = 0;
  }

  /** Stops accepting input (after the caller decided the channel is bad). */
  stop(): void {
    this.failed = true;
    this.parts = [];
  }
}
