import { randomBytes } from 'node:crypto';
import { BrokerError, ErrorCode } from '../errors.js';
import type { Limits } from '../protocol/limits.js';
import { Session, type SessionDeps } from './session.js';

export interface SessionsOptions extends SessionDeps {
  readonly maxSessions: number;
  readonly idleMs: number;
}

/** Ids of closed sessions remembered, so a late request hears why rather than "never opened". */
const REMEMBERED_CLOSED = 1024;

/** The open sessions: the operator's cap, idle closing, and the one place a session id is looked up. */
export class Sessions {
  private readonly open_ = new Map<string, Session>();
  private readonly gone = new Map<string, string>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: SessionsOptions) {
    this.sweeper = setInterval(() => this.closeIdle(), Math.max(50, Math.min(options.idleMs / 4, 60_000))).unref();
  }

  get size(): number {
    return this.open_.size;
  }

  /** Opens a session and answers once its worker is ready. */
  async open(limits: Limits): Promise<string> {
    if (this.closed) throw new BrokerError(ErrorCode.ShuttingDown, 'the broker is shutting down');
    if (this.open_.size >= this.options.maxSessions) {
      throw new BrokerError(ErrorCode.SessionLimit, `${this.open_.size} sessions are open, the operator's limit (maxSessions); close one first`, { limit: this.options.maxSessions });
    }
    const id = `s-${randomBytes(8).toString('hex')}`;
    const session = new Session(id, limits, this.options);
    this.open_.set(id, session);
    try {
      await session.start();
    } catch (error) {
      this.open_.delete(id);
      await session.close();
      throw error;
    }
    return id;
  }

  /** The open session, or UnknownSession saying whether it was never opened, closed, or closed for idleness. */
  get(id: string, field = 'params.session'): Session {
    const session = this.open_.get(id);
    if (session) return session;
    const why = this.gone.get(id);
    const reason = why ?? 'no session with this id was opened';
    throw new BrokerError(ErrorCode.UnknownSession, `session "${id.slice(0, 128)}": ${reason}`, { field, value: id, reason });
  }

  async close(id: string, why = 'closed by the client (session/close)'): Promise<void> {
    const session = this.get(id);
    this.open_.delete(id);
    this.remember(id, why);
    await session.close();
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const all = [...this.open_.values()];
    this.open_.clear();
    await Promise.all(all.map((session) => session.close('shutdown')));
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const session of this.open_.values()) {
      if (session.busy || now - session.lastActive < this.options.idleMs) continue;
      void this.close(session.id, `closed after more than ${this.options.idleMs} ms without work (the operator's sessionIdleMs)`).catch(() => undefined);
    }
  }

  private remember(id: string, why: string): void {
    this.gone.set(id, why);
    if (this.gone.size > REMEMBERED_CLOSED) this.gone.delete(this.gone.keys().next().value!);
  }
}
