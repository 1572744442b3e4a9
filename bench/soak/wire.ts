/**
 * Watches the broker's stdout (a second 'data' listener beside the client's reader) and counts
 * responses per id, in LSP framing: the client library silently drops a second response for an id,
 * so "answered exactly once" is checked here, on the wire.
 */
export class WireTap {
  private buffer: Buffer = Buffer.alloc(0);
  readonly perId = new Map<string, number>();
  responses = 0;
  notifications = 0;
  brokerRequests = 0;
  garbage = 0;
  readonly examples: string[] = [];

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const header = this.buffer.subarray(0, end).toString('latin1');
      const length = Number(/Content-Length:\s*(\d+)/i.exec(header)?.[1] ?? NaN);
      if (!Number.isFinite(length)) {
        this.garbage++;
        this.buffer = this.buffer.subarray(end + 4);
        continue;
      }
      if (this.buffer.length < end + 4 + length) return;
      const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(end + 4 + length);
      this.frame(body);
    }
  }

  private frame(body: string): void {
    let message: { id?: unknown; method?: unknown; result?: unknown; error?: unknown };
    try {
      message = JSON.parse(body) as typeof message;
    } catch {
      this.garbage++;
      return;
    }
    if (typeof message.method === 'string') {
      if (message.id === undefined) this.notifications++;
      else this.brokerRequests++;
      return;
    }
    this.responses++;
    const key = JSON.stringify(message.id ?? null);
    const count = (this.perId.get(key) ?? 0) + 1;
    this.perId.set(key, count);
    if (count === 2 && this.examples.length < 5) this.examples.push(`id ${key} answered twice; latest: ${body.slice(0, 200)}`);
  }

  /** Ids answered more than once, and ids this client never sent (it sends 0, 1, 2, … in order). */
  audit(sentIds: number): { duplicateIds: number; unknownIds: number } {
    let duplicateIds = 0;
    let unknownIds = 0;
    for (const [key, count] of this.perId) {
      if (count > 1) duplicateIds++;
      const id = JSON.parse(key) as unknown;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= sentIds) {
        unknownIds++;
        if (this.examples.length < 5) this.examples.push(`response for id ${key}, never sent`);
      }
    }
    return { duplicateIds, unknownIds };
  }
}
