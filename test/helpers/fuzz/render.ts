/** One item into the case's bytes; the malformed, execute and huge kinds have files of their own. */
import type { CaseBytes } from './case-bytes.js';
import { anError, errorCode, REQUEST_METHODS, statusCheck } from './contract.js';
import { KNOWN_BUGS } from './env.js';
import { BAD_CANCELS, BAD_PARAMS, POLLUTION, type Item } from './items.js';
import { renderExec } from './render-exec.js';
import { renderHuge } from './render-huge.js';
import { renderMalformed } from './render-malformed.js';
import { short } from './show.js';

export function render(bytes: CaseBytes, item: Item): void {
  switch (item.t) {
    case 'status': {
      const body = `{"jsonrpc":"2.0","id":${bytes.id(item.id)},"method":"broker/status"${item.params ? ',"params":{}' : ''}}`;
      bytes.framed(item.pad ? ` \t\r\n${body}\n ` : body, 'broker/status', statusCheck, item.hdr);
      return;
    }
    case 'exec': return renderExec(bytes, item);
    case 'session': {
      const verdict = bytes.framed(`{"jsonrpc":"2.0","id":${bytes.id(item.id)},"method":"session/open","params":{"limits":{"timeoutMs":5000}}}`, 'session/open',
        (a) => (typeof (a.result as { session?: unknown } | undefined)?.session === 'string' ? undefined : `session/open failed: ${short(JSON.stringify(a), 300)}`));
      if (verdict.kind === 'request') {
        bytes.expectations.at(-1)!.slow = true;
        bytes.sessions.push({ expectation: bytes.expectations.at(-1)!, run: item.run, after: item.after });
      }
      return;
    }
    case 'request': {
      const params = item.params === null ? '' : `,"params":${item.params}`;
      bytes.framed(`{"jsonrpc":"2.0","id":${bytes.id(item.id)},"method":${JSON.stringify(item.method)}${params}}`, `request ${short(JSON.stringify(item.method), 40)}`);
      return;
    }
    case 'badParams': {
      const [method, params, codes] = BAD_PARAMS[item.which]!;
      bytes.framed(`{"jsonrpc":"2.0","id":${bytes.id(item.id)},"method":"${method}"${params === null ? '' : `,"params":${params}`}}`, `${method} ${params}`, errorCode(codes));
      return;
    }
    case 'notify': {
      const params = item.params === null ? '' : `,"params":${item.params}`;
      if (item.method === '$/cancelRequest' && !KNOWN_BUGS) return render(bytes, { t: 'cancel', target: { to: 'weird', text: '"unknown"' }, extra: false });
      bytes.framed(`{"jsonrpc":"2.0","method":${JSON.stringify(item.method)}${params}}`, 'notification');
      return;
    }
    case 'cancel': {
      let id: string;
      if (item.target.to === 'exec') {
        const exec = bytes.execs.at(-1);
        if (exec) exec.cancelled = true;
        id = exec ? exec.key : bytes.freshId('string');
      } else if (item.target.to === 'id') id = bytes.id(item.target.id);
      else id = bytes.claim(item.target.text);
      bytes.framed(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":${id}${item.extra ? ',"extra":[1,{"__proto__":{}}]' : ''}}}`, 'cancel');
      return;
    }
    case 'envelope': {
      const fields: string[] = [];
      if (item.jsonrpc !== null) fields.push(`"jsonrpc":${item.jsonrpc}`);
      if (item.id !== null) fields.push(`"id":${'v' in item.id ? bytes.id(item.id.v) : item.id.bad}`);
      if (item.method !== null) fields.push(`"method":${item.method}`);
      if (item.params !== null) fields.push(`"params":${item.params}`);
      if (item.extra !== null) fields.push(item.extra);
      bytes.framed(`{${fields.join(',')}}`, `envelope {${short(fields.join(','), 120)}}`);
      return;
    }
    case 'batch': {
      const inner = item.inner === 'requests' ? Array.from({ length: item.n }, () => bytes.swallowed()).join(',')
        : item.inner === 'numbers' ? '1,2,3' : item.inner === 'nested' ? `[${bytes.swallowed()}]` : '';
      bytes.framed(`[${inner}]`, 'batch');
      return;
    }
    case 'nonObject': bytes.framed(item.text, 'non-object'); return;
    case 'badJson': case 'randomBody': case 'randomBytes': case 'badUtf8': case 'badHeader': case 'junk': case 'truncated': case 'oversized':
      return renderMalformed(bytes, item);
    case 'huge': return renderHuge(bytes, item);
    case 'pollute': {
      const payload = POLLUTION[item.payload]!;
      if (item.notification) {
        // $/cancelRequest params without an own id (the id only on __proto__) are bug A (fixed).
        if (item.method === '$/cancelRequest' && !KNOWN_BUGS && !payload.startsWith('{"id":')) return;
        bytes.framed(`{"jsonrpc":"2.0","method":"${item.method}","params":${payload}}`, 'polluting notification');
      } else {
        bytes.framed(`{"jsonrpc":"2.0","id":${bytes.id(item.id)},"method":"${item.method}","params":${payload}}`, `${item.method} ${payload}`,
          REQUEST_METHODS.has(item.method) ? anError : errorCode([-32601]));
      }
      return;
    }
    case 'badCancel': bytes.framed(BAD_CANCELS[item.which]!, 'bug A: cancel without a usable id'); return;
  }
}
