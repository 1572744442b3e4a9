/** Huge, deep or wide params, or a huge id: the reader and the schemas must cope, and each request still gets its one answer. */
import { nextSeq, type CaseBytes } from './case-bytes.js';
import { errorCode, statusCheck, type Check } from './contract.js';
import { MiB } from './env.js';
import type { Item } from './items.js';
import { short } from './show.js';

export function renderHuge(bytes: CaseBytes, item: Extract<Item, { t: 'huge' }>): void {
  const size = item.size;
  let params: string;
  let check: Check | undefined;
  let id = bytes.freshId();
  switch (item.shape) {
    case 'string': params = `{"x":"${'a'.repeat(size * MiB)}"}`; break; // up to 4 MiB
    case 'deepArray': params = `{"x":${'['.repeat(size * 2500)}${']'.repeat(size * 2500)}}`; break;
    case 'deepObject': params = `{"x":${'{"a":'.repeat(size * 2500)}1${'}'.repeat(size * 2500)}}`; break;
    case 'deepParams': params = `${'['.repeat(size * 5000)}${']'.repeat(size * 5000)}`; break;
    case 'wide': params = `{${Array.from({ length: size * 12_500 }, (_, i) => `"k${i}":${i}`).join(',')}}`; break;
    case 'longId': params = '{}'; id = JSON.stringify(`${'L'.repeat(size * MiB / 4)}${nextSeq()}`); break;
    case 'tooBigCode': params = `{"code":"${'x'.repeat(4 * MiB + size)}"}`; break;
    case 'bigCode': params = `{"code":"print(1)  # ${'x'.repeat(size * MiB)}","limits":{"timeoutMs":8000}}`; break;
  }
  let method: string = item.method;
  if (item.shape === 'bigCode' || item.shape === 'tooBigCode') method = 'execute';
  if (item.shape === 'longId' && method === 'notify') method = 'broker/status';
  if (method === 'notify') {
    bytes.framed(`{"jsonrpc":"2.0","method":"$/progress","params":${params}}`, `huge ${item.shape} notification`);
    return;
  }
  if (method === 'no/such') check = errorCode([-32601]);
  else if (item.shape === 'bigCode') check = (a) => ((a.result as { status?: string; stdout?: string } | undefined)?.stdout === '1\n' ? undefined : `expected stdout "1\\n": ${short(JSON.stringify(a), 300)}`);
  else if (item.shape === 'longId' && method === 'broker/status') check = statusCheck;
  else check = errorCode([-32602]); // an unknown field, a wrong type, code past 4 Mi, or {} where a session is needed
  bytes.framed(`{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${params}}`, `huge ${item.shape} ${method}`, check);
  if (item.shape === 'bigCode') bytes.expectations.at(-1)!.slow = true;
}
