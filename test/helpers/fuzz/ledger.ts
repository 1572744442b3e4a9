/** What the broker's stdout messages must be: answers expected by id, output by token, and every violation seen. */
import { isId, type Answer, type Check, type Id } from './contract.js';
import { dump, short } from './show.js';

/** slow: needs a sandbox (an execute that runs, a session); every other answer is written before the sync point's. */
export interface Expectation { key: string; label: string; check: Check | undefined; answered: boolean; answer?: Answer; slow?: boolean }
export interface TokenRecord { stdout: string; stderr: string; answered: boolean }

export const keyOf = (id: Id): string => JSON.stringify(id);

export class Ledger {
  /** Everything wrong seen on stdout or in answers, in order. */
  readonly violations: string[] = [];
  readonly pending = new Map<string, Expectation[]>();
  readonly tokens = new Map<string, TokenRecord>();
  nullParse = 0;
  nullInvalid = 0;

  expect(key: string, label: string, check: Check | undefined): Expectation {
    const expectation: Expectation = { key, label, check, answered: false };
    const queue = this.pending.get(key) ?? [];
    queue.push(expectation);
    this.pending.set(key, queue);
    return expectation;
  }

  violation(text: string): void {
    this.violations.push(text);
  }

  /** One body from stdout. Expectations are queued per id, so a second answer to one request finds none left: a violation. */
  take(body: Buffer): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as Record<string, unknown>;
    } catch (error) {
      return this.violation(`stdout: a frame whose body is not UTF-8 JSON (${(error as Error).message}): ${dump(body.subarray(0, 200))}`);
    }
    const text = (): string => short(JSON.stringify(message), 300);
    if (typeof message !== 'object' || message === null || Array.isArray(message) || message.jsonrpc !== '2.0') return this.violation(`stdout: not a JSON-RPC 2.0 message: ${text()}`);
    if ('method' in message) {
      if ('id' in message) return this.violation(`stdout: the broker sent a request (${text()}); the fuzz client never declared interactiveInput`);
      const params = message.params as { token?: unknown; text?: unknown; stream?: unknown } | undefined;
      if ((message.method !== 'execute/output' && message.method !== 'execute/display') || typeof params !== 'object' || params === null) return this.violation(`stdout: unexpected notification: ${text()}`);
      const token = this.tokens.get(JSON.stringify(params.token));
      if (!token) return this.violation(`stdout: ${String(message.method)} for a token no execute carried (prototype pollution?): ${text()}`);
      if (token.answered) return this.violation(`stdout: ${String(message.method)} after its execute's response: ${text()}`);
      if (message.method === 'execute/output') {
        if (params.stream === 'stdout') token.stdout += String(params.text);
        else if (params.stream === 'stderr') token.stderr += String(params.text);
        else this.violation(`stdout: execute/output with stream ${String(params.stream)}`);
      }
      return;
    }
    const keys = Object.keys(message).sort().join(',');
    if (keys !== 'error,id,jsonrpc' && keys !== 'id,jsonrpc,result') return this.violation(`stdout: a response must have id and exactly one of result/error: ${text()}`);
    const answer = message as unknown as Answer;
    if (answer.error !== undefined) {
      const error = answer.error as unknown as Record<string, unknown>;
      if (typeof error !== 'object' || error === null || !Number.isInteger(error.code) || typeof error.message !== 'string') return this.violation(`stdout: malformed error object: ${text()}`);
      if (error.code === -32603) this.violation(`InternalError (-32603, "a bug in the broker"): ${text()}`);
    }
    if (answer.id === null) {
      if (answer.error?.code === -32700) this.nullParse++;
      else if (answer.error?.code === -32600) this.nullInvalid++;
      else this.violation(`an answer with id null that is neither -32700 nor -32600: ${text()}`);
      return;
    }
    if (!isId(answer.id)) return this.violation(`stdout: response id of the wrong type: ${text()}`);
    const expectation = this.pending.get(keyOf(answer.id))?.shift();
    if (!expectation) return this.violation(`an answer nobody asked for (id never sent as a parseable request, or answered twice): ${text()}`);
    expectation.answered = true;
    expectation.answer = answer;
    const problem = expectation.check?.(answer);
    if (problem) this.violation(`${expectation.label}: ${problem}`);
  }
}
