/**
 * What a case is made of: small, printable item specs (fast-check prints and shrinks these; bytes are rendered
 * later) and the hostile inputs they pick from.
 */
import { REQUEST_METHODS } from './contract.js';
import type { HeaderStyle } from './frame.js';

export type IdSpec =
  | { k: 'int' | 'neg' | 'frac' | 'big' | 'sci' }
  | { k: 'str'; p: string }
  | { k: 'exact'; text: string }
  | { k: 'old'; n: number }
  | { k: 'long'; n: number }
  | { k: 'dup' | 'twin' }; // (bug B, fixed) the id of an earlier request of the case, or its number/string twin

export type CancelTarget = { to: 'exec' } | { to: 'id'; id: IdSpec } | { to: 'weird'; text: string };
export type HugeShape = 'string' | 'deepArray' | 'deepObject' | 'deepParams' | 'wide' | 'longId' | 'bigCode' | 'tooBigCode';
export type EnvelopeId = { v: IdSpec } | { bad: string } | null;

export type Item =
  | { t: 'status'; id: IdSpec; params: boolean; hdr: HeaderStyle; pad: boolean }
  | { t: 'exec'; id: IdSpec; snippet: 'print' | 'error' | 'spin' | 'value'; token: 'none' | 'string' | 'int'; spinMs: number; hdr: HeaderStyle }
  | { t: 'session'; id: IdSpec; run: boolean; after: boolean }
  | { t: 'request'; id: IdSpec; method: string; params: string | null }
  | { t: 'badParams'; id: IdSpec; which: number }
  | { t: 'notify'; method: string; params: string | null }
  | { t: 'cancel'; target: CancelTarget; extra: boolean }
  | { t: 'envelope'; jsonrpc: string | null; id: EnvelopeId; method: string | null; params: string | null; extra: string | null }
  | { t: 'batch'; inner: 'requests' | 'empty' | 'numbers' | 'nested'; n: number }
  | { t: 'nonObject'; text: string }
  | { t: 'badJson'; which: number; frac: number }
  | { t: 'randomBody'; text: string }
  | { t: 'randomBytes'; bytes: number[] }
  | { t: 'badUtf8'; which: number; where: 'string' | 'start' | 'end' }
  | { t: 'badHeader'; which: number; body: 'request' | 'none' | 'junk' }
  | { t: 'junk'; bytes: number[]; big: boolean; blank: boolean }
  | { t: 'truncated'; prefix: number; frames: number; pad: number; cut: number; hdr: HeaderStyle }
  | { t: 'oversized' }
  | { t: 'huge'; shape: HugeShape; size: number; method: 'broker/status' | 'execute' | 'no/such' | 'session/close' | 'notify' }
  | { t: 'pollute'; id: IdSpec; method: string; payload: number; notification: boolean }
  | { t: 'badCancel'; which: number }; // (bug A, fixed)

/** A case: items plus where the bytes are split into separate writes (the reader sees partial frames). */
export type Case = { items: Item[]; splits: number[] };

export const WEIRD_METHODS = [
  'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', 'prototype',
  '$/weird', '$/', '$/cancelRequest', '$/setTrace', '$/logTrace', '$/progress', 'exit', 'Exit', 'EXIT', 'exit ', ' exit', 'exit\u0000',
  'Shutdown', 'SHUTDOWN', 'shutdown ', 'shutdown/', 'initialize/', 'initialized', 'Initialize', 'execute/output', 'execute/display',
  'input/request', 'Execute', ' execute', 'execute\u0000', 'execute/', 'broker', 'broker/', 'broker/status/', 'broker/Status',
  'session', 'session/', 'session/open/', 'session/../execute', '', '/', '.', 'rpc.discover', '\ud800', '😀/😀', 'a'.repeat(300),
];
/** Names a notification may carry: anything but `exit`, which would (rightly) end the broker. */
export const NOTIFY_METHODS = [...WEIRD_METHODS, ...REQUEST_METHODS, 'exit/'].filter((m) => m !== 'exit');

export const POLLUTION = [
  '{"__proto__":{"polluted":"yes","outputToken":"polluted","session":"polluted","code":"print(666)"}}',
  '{"constructor":{"prototype":{"polluted":"yes","outputToken":"polluted"}}}',
  '{"code":"print(1)","__proto__":{"outputToken":"polluted","polluted":"yes"}}',
  '{"code":"print(1)","limits":{"__proto__":{"timeoutMs":1}}}',
  '{"code":"print(1)","constructor":{"prototype":{"limits":{"timeoutMs":1}}}}',
  '{"code":"print(1)","files":[{"path":"a","content":"","__proto__":{"path":"/etc/passwd"}}]}',
  '{"code":"print(1)","session":"__proto__"}',
  '{"code":"print(1)","session":"constructor"}',
  '{"code":"print(1)","session":"hasOwnProperty"}',
  '{"session":"__proto__"}',
  '{"session":"toString"}',
  '{"session":"constructor","code":"x","cursor":0}',
  '{"limits":{"__proto__":{"memoryBytes":1}}}',
  '{"__proto__":[]}',
  '{"__proto__":null}',
  '{"constructor.prototype":{"polluted":"yes"}}',
  '{"__proto__.polluted":"yes"}',
  '{"id":1,"__proto__":{"id":2,"polluted":"yes"}}',
];
export const POLLUTE_METHODS = ['execute', 'broker/status', 'session/open', 'session/close', 'session/restart', 'session/complete', 'initialize', '__proto__', 'constructor', '$/progress', '$/cancelRequest'];

/** Known methods with params the contract refuses; the codes the answer may carry. */
export const BAD_PARAMS: [method: string, params: string | null, codes: number[]][] = [
  ['execute', '{}', [-32602]], ['execute', '[]', [-32602]], ['execute', '["print(1)"]', [-32602]], ['execute', null, [-32602]],
  ['execute', '{"code":42}', [-32602]], ['execute', '{"code":null}', [-32602]], ['execute', '{"code":["print(1)"]}', [-32602]],
  ['execute', '{"code":"1","limits":{"timeoutMs":0}}', [-32602]], ['execute', '{"code":"1","limits":{"timeoutMs":-1}}', [-32602]],
  ['execute', '{"code":"1","limits":{"cpuMs":1.5}}', [-32602]], ['execute', '{"code":"1","limits":{"timeoutMs":"5000"}}', [-32602]],
  ['execute', '{"code":"1","limits":{"timeoutMs":1e400}}', [-32602]], ['execute', '{"code":"1","limits":{"memoryBytes":null}}', [-32602]],
  ['execute', '{"code":"1","limits":{"maxProcesses":99999999999999999999}}', [-32602]], ['execute', '{"code":"1","limits":{"wallMs":5}}', [-32602]],
  ['execute', '{"code":"1","limits":[]}', [-32602]], ['execute', '{"code":"1","files":[{"path":"/etc/x","content":""}]}', [-32602]],
  ['execute', '{"code":"1","files":[{"path":"a/../../x","content":""}]}', [-32602]], ['execute', '{"code":"1","files":[{"path":"a","content":"***"}]}', [-32602]],
  ['execute', '{"code":"1","files":{}}', [-32602]], ['execute', '{"code":"1","outputToken":{}}', [-32602]], ['execute', '{"code":"1","outputToken":1.5}', [-32602]],
  ['execute', '{"code":"1","returnFiles":[]}', [-32602]], ['execute', '{"code":"1","stdin":5}', [-32602]], ['execute', '{"code":"1","session":""}', [-32602]],
  ['execute', '{"code":"1","session":"no-such-session"}', [-32011]], ['execute', '{"code":"1","session":5}', [-32602]],
  ['execute', '{"code":"1","limits":{"memoryBytes":1024},"session":"s"}', [-32602, -32011]],
  ['broker/status', '{"x":1}', [-32602]], ['broker/status', '[]', [-32602]], ['broker/status', '[1]', [-32602]],
  ['session/open', '{"limits":{"timeoutMs":0}}', [-32602]], ['session/open', '{"x":1}', [-32602]], ['session/open', '[]', [-32602]],
  ['session/open', '{"limits":{"memoryBytes":1e400}}', [-32602]],
  ['session/close', '{}', [-32602]], ['session/close', null, [-32602]], ['session/close', '{"session":5}', [-32602]], ['session/close', '{"session":"nope"}', [-32011]],
  ['session/restart', '{"session":"nope"}', [-32011]], ['session/restart', '{"session":""}', [-32602]],
  ['session/complete', '{"session":"nope","code":"x","cursor":1}', [-32011, -32602]], ['session/complete', '{"session":"nope","code":"x","cursor":-1}', [-32602, -32011]],
  ['initialize', '{}', [-32600]], ['initialize', null, [-32600]], ['initialize', '{"limits":{"timeoutMs":0}}', [-32600, -32602]],
];

export const BAD_JSON = ['', 'not json', 'undefined', 'NaN', "{'a':1}", '{"a":1,}', '[1,]', '{"jsonrpc":"2.0","id":1,"method":"x",}', '{', '}', '"unterminated', '\u0000', '01', '1 2'];
/** Invalid UTF-8 sequences: a stray byte, a lone continuation, an overlong NUL, truncated sequences, a UTF-8 surrogate, past U+10FFFF. */
export const BAD_UTF8 = [[0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3, 0x28]];
/** Header blocks that are not a valid frame header: a bad, missing, huge or misspelled Content-Length. */
export const BAD_HEADERS = [
  'Content-Length: abc', 'Content-Length: -5', 'Content-Length: 1.5', 'Content-Length: 1e3', 'Content-Length: 0x10', 'Content-Length: ',
  'Content-Length: +12', 'Content-Length: 12abc', 'Content-Length: 1 2', 'Content-Length: 9999999999999999', 'Content-Length: 99999999999999999999999999999',
  'Content-Type: application/json', 'Content-Lenght: 12', 'Content_Length: 12', '', 'Content-Length 12', 'X-Only: 1\r\nY-Only: 2',
];
/** Bug A (fixed): $/cancelRequest params without a usable id crashed the broker (see the regression tests below). */
export const BAD_CANCELS = [
  '{"jsonrpc":"2.0","method":"$/cancelRequest"}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{}}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":[]}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":[1]}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":null}}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":{"toString":1}}}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"__proto__":{"id":1}}}',
  `{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":${'['.repeat(5000)}${']'.repeat(5000)}}}`,
];

