/**
 * One case's bytes as they are rendered, with what the contract says must come back: the expectations, how many
 * id-null errors, and the ids in use (fresh ones keep answers to different requests apart).
 */
import type { Broker } from './broker.js';
import { errorCode, isId, judge, methodCheck, type Check, type Id, type Verdict } from './contract.js';
import { frame, type HeaderStyle } from './frame.js';
import type { IdSpec } from './items.js';
import { keyOf, type Expectation } from './ledger.js';
import { short } from './show.js';

// Shared by every case and by run-case.ts's own requests, so a fresh id stays fresh across cases.
let SEQ = 1000;
export const nextSeq = (): number => ++SEQ;

export interface Exec { key: string; cancelled: boolean }
export interface SessionPlan { expectation: Expectation; run: boolean; after: boolean }

export class CaseBytes {
  readonly segments: Buffer[] = [];
  readonly expectations: Expectation[] = [];
  readonly execs: Exec[] = [];
  readonly sessions: SessionPlan[] = [];
  parseMin = 0;
  parseMax = 0;
  nullInvalid = 0;
  private readonly used = new Set<string>(); // String(id): vscode-jsonrpc keys its queue by it
  private readonly requestIds: string[] = []; // id texts, for the known-bug duplicates

  constructor(readonly broker: Broker) {}

  push(bytes: Buffer | string, parse: [number, number] = [0, 0]): void {
    this.segments.push(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    this.parseMin += parse[0];
    this.parseMax += parse[1];
  }

  /** A fresh id nobody else uses, as JSON text. */
  freshId(kind: 'number' | 'string' = 'number'): string {
    const n = nextSeq();
    this.used.add(String(kind === 'number' ? n : `f${n}`));
    return kind === 'number' ? String(n) : JSON.stringify(`f${n}`);
  }

  id(spec: IdSpec): string {
    const n = nextSeq();
    let text: string;
    switch (spec.k) {
      case 'int': text = String(n); break;
      case 'neg': text = String(-n); break;
      case 'frac': text = `${n}.25`; break;
      case 'big': text = String(n * 2 ** 32); break;
      case 'sci': text = `${n}e3`; break;
      case 'str': text = JSON.stringify(`${spec.p}${n}`); break;
      case 'exact': text = spec.text; break;
      case 'old': text = JSON.stringify(this.broker.pastIds[spec.n % this.broker.pastIds.length] ?? n); break;
      case 'long': text = JSON.stringify(`${'L'.repeat(spec.n)}${n}`); break;
      case 'dup': case 'twin': {
        const earlier = this.requestIds[0];
        if (earlier === undefined) return this.id({ k: 'int' });
        if (spec.k === 'dup') return earlier;
        const value = JSON.parse(earlier) as Id;
        return typeof value === 'number' ? JSON.stringify(String(value)) : /^\d+$/.test(value) ? value : earlier;
      }
    }
    const key = String(JSON.parse(text) as Id);
    if (this.used.has(key)) return this.freshId();
    this.used.add(key);
    return text;
  }

  /** A well-framed body: the contract says what must come back, and it is registered. */
  framed(body: string | Buffer, label: string, check?: Check, style: HeaderStyle = 'std'): Verdict {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const verdict = judge(bytes);
    if (verdict.kind === 'request' && verdict.method === 'shutdown') throw new Error('generator bug: a shutdown request');
    if (verdict.kind === 'silent' && verdict.method === 'exit') throw new Error('generator bug: an exit notification');
    this.push(frame(bytes, style));
    if (verdict.kind === 'parse') {
      this.parseMin++;
      this.parseMax++;
    } else if (verdict.kind === 'invalid') {
      if (verdict.id === null) this.nullInvalid++;
      else this.register(verdict.id, `${label} (invalid request)`, errorCode([-32600]));
    } else if (verdict.kind === 'request') {
      this.register(verdict.id, label, check ?? methodCheck(verdict.method));
    }
    return verdict;
  }

  register(id: Id, label: string, check: Check | undefined): Expectation {
    const key = keyOf(id);
    const duplicate = this.expectations.some((e) => e.key === key || String(JSON.parse(e.key)) === String(id));
    const expectation = this.broker.ledger.expect(key, `${label} [id ${short(key, 60)}]`, duplicate ? undefined : check);
    if (duplicate) for (const e of this.expectations) if (String(JSON.parse(e.key)) === String(id)) e.check = undefined;
    this.expectations.push(expectation);
    this.requestIds.push(key);
    return expectation;
  }

  /** A request text whose bytes will be swallowed: its id is fresh, so any answer to it is a violation. */
  swallowed(method = 'broker/status'): string {
    return `{"jsonrpc":"2.0","id":${this.freshId()},"method":${JSON.stringify(method)}}`;
  }

  /** A cancel's id text as is, unless it is an id already in use: then a fresh string id. */
  claim(text: string): string {
    const value = JSON.parse(text) as unknown;
    if (!isId(value)) return text;
    if (this.used.has(String(value))) return this.freshId('string');
    this.used.add(String(value));
    return text;
  }
}
