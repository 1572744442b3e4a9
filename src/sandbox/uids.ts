/**
 * Host uids for sandboxes, one per live sandbox, when the broker runs as root. RLIMIT_NPROC counts the
 * processes of a uid across the whole host, so with one shared uid every sandbox's fork limit would be
 * spent by all the others; with one uid each, maxProcesses is the sandbox's own.
 */
export class UidPool {
  private readonly free: number[] = [];
  private readonly used = new Set<number>();

  constructor(readonly first: number, readonly count: number) {
    for (let i = count - 1; i >= 0; i--) this.free.push(first + i);
  }

  /** The lowest free uid; throws when all are taken (more live sandboxes than the range holds). */
  acquire(): number {
    const uid = this.free.pop();
    if (uid === undefined) throw new Error(`all ${this.count} sandbox uids (${this.first}-${this.first + this.count - 1}) are in use`);
    this.used.add(uid);
    return uid;
  }

  /** Returns a uid once every process of its sandbox has ended. */
  release(uid: number): void {
    if (!this.used.delete(uid)) return;
    this.free.push(uid);
    this.free.sort((a, b) => b - a);
  }

  get inUse(): number {
    return this.used.size;
  }
}
