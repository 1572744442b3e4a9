/**
 * The contract's view of one well-framed body (protocol/README.md, "Transport"): what the broker must answer, and
 * checks on answers (each returns what is wrong with one, or undefined).
 */
import { statusResultSchema } from '../../../src/protocol/lifecycle.js';
import { short } from './show.js';

export type Id = string | number;
export type Verdict =
  | { kind: 'parse' } // not UTF-8 or not JSON: -32700, id null
  | { kind: 'invalid'; id: Id | null } // JSON but not JSON-RPC 2.0: -32600 with the id when one could be read
  | { kind: 'request'; id: Id; method: string } // exactly one answer with that id
  | { kind: 'silent'; method?: string }; // a notification or a response: no answer

export interface RpcError { code: number; message: string; data?: unknown }
export interface Answer { jsonrpc: '2.0'; id: Id | null; result?: unknown; error?: RpcError }
export type Check = (answer: Answer) => string | undefined;

/** Client → broker request methods; everything else sent with an id is -32601. */
export const REQUEST_METHODS = new Set(['initialize', 'shutdown', 'execute', 'broker/status', 'session/open', 'session/restart', 'session/close', 'session/complete']);

export const isId = (value: unknown): value is Id => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));

export function judge(body: Buffer): Verdict {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return { kind: 'parse' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'invalid', id: null };
  const message = value as Record<string, unknown>;
  const id = isId(message.id) ? message.id : null;
  if (message.jsonrpc !== '2.0') return { kind: 'invalid', id };
  if ('method' in message) {
    if (typeof message.method !== 'string') return { kind: 'invalid', id };
    if ('id' in message && !isId(message.id)) return { kind: 'invalid', id: null };
    if ('params' in message && (typeof message.params !== 'object' || message.params === null)) return { kind: 'invalid', id };
    return 'id' in message ? { kind: 'request', id: message.id as Id, method: message.method } : { kind: 'silent', method: message.method };
  }
  if ('id' in message && ('result' in message || 'error' in message)) return { kind: 'silent' };
  return { kind: 'invalid', id };
}

export const errorCode = (codes: number[]): Check => (a) => (a.error && codes.includes(a.error.code) ? undefined : `expected an error ${codes.join('|')}, got ${short(JSON.stringify(a), 300)}`);
export const anError: Check = (a) => (a.error ? undefined : `expected an error, got ${short(JSON.stringify(a), 300)}`);
export const methodCheck = (method: string): Check | undefined => {
  if (!REQUEST_METHODS.has(method)) return errorCode([-32601]);
  if (method === 'initialize') return errorCode([-32600]);
  return undefined; // a known method with odd params: any one answer (-32603 is flagged for every answer)
};
export const statusCheck: Check = (a) => {
  if (!a.result) return `expected a broker/status result, got ${short(JSON.stringify(a), 300)}`;
  const parsed = statusResultSchema.safeParse(a.result);
  if (!parsed.success) return `broker/status result does not match its schema: ${parsed.error.issues[0]?.message} in ${short(JSON.stringify(a.result), 300)}`;
  if (JSON.stringify(a.result).includes('polluted')) return `broker/status shows pollution: ${short(JSON.stringify(a.result), 300)}`;
  return undefined;
};
