/** An execute that runs: its answer is checked in depth, and output streamed under its token must match the result. */
import { executeResultSchema } from '../../../src/protocol/execute.js';
import { nextSeq, type CaseBytes, type Exec } from './case-bytes.js';
import type { Check } from './contract.js';
import type { Item } from './items.js';
import type { TokenRecord } from './ledger.js';
import { short } from './show.js';

export function renderExec(bytes: CaseBytes, item: Extract<Item, { t: 'exec' }>): void {
  const n = nextSeq();
  const code = { print: `print(${n})`, error: '1/0', spin: 'while True: pass', value: '6 * 7' }[item.snippet];
  const limits = item.snippet === 'spin' ? `{"timeoutMs":${item.spinMs}}` : '{"timeoutMs":8000,"cpuMs":5000}';
  const token = item.token === 'none' ? undefined : item.token === 'string' ? JSON.stringify(`tok-${n}`) : String(n);
  const record: TokenRecord | undefined = token === undefined ? undefined : { stdout: '', stderr: '', answered: false };
  if (token !== undefined) bytes.broker.ledger.tokens.set(token, record!);
  const id = bytes.id(item.id);
  const exec: Exec = { key: id, cancelled: false };
  const expected = { print: 'ok', error: 'error', spin: 'timeout', value: 'ok' }[item.snippet];
  const check: Check = (a) => {
    if (record) record.answered = true;
    if (!a.result) return `expected an ExecuteResult, got ${short(JSON.stringify(a), 300)}`;
    const parsed = executeResultSchema.safeParse(a.result);
    if (!parsed.success) return `ExecuteResult does not match its schema: ${parsed.error.issues[0]?.message}`;
    const result = parsed.data;
    if (exec.cancelled && result.status === 'cancelled') return undefined;
    if (result.status !== expected) return `status ${result.status}, expected ${expected}${exec.cancelled ? ' or cancelled' : ''}: ${short(JSON.stringify(result), 400)}`;
    if (item.snippet === 'print' && result.stdout !== `${n}\n`) return `stdout ${JSON.stringify(result.stdout)}, expected "${n}\\n"`;
    if (item.snippet === 'value' && result.value?.['text/plain'] !== '42') return `value ${JSON.stringify(result.value)}`;
    if (item.snippet === 'error' && result.error?.type !== 'ZeroDivisionError') return `error ${JSON.stringify(result.error)}`;
    if (record && (record.stdout !== result.stdout || record.stderr !== result.stderr)) return `streamed output ${JSON.stringify([record.stdout, record.stderr])} is not the result's ${JSON.stringify([result.stdout, result.stderr])}`;
    return undefined;
  };
  const params = `{"code":${JSON.stringify(code)},"limits":${limits}${token === undefined ? '' : `,"outputToken":${token}`}}`;
  const verdict = bytes.framed(`{"jsonrpc":"2.0","id":${id},"method":"execute","params":${params}}`, `execute ${item.snippet}`, check, item.hdr);
  if (verdict.kind === 'request') {
    bytes.expectations.at(-1)!.slow = true;
    bytes.execs.push(exec);
  }
}
