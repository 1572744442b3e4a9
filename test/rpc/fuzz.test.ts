/**
 * Property-based fuzz of `pycell serve` over its real stdio (protocol/README.md, "Transport" and "Lifecycle").
 *
 * One broker process for the whole property; fast-check feeds it sequences of raw bytes that mix malformed
 * frames, wrong types, huge and deeply nested params, unknown methods, prototype-pollution keys, cancels of
 * unknown ids, invalid UTF-8, bad Content-Length headers, truncated bodies, batches, notifications with ids and
 * a few valid requests. Every case ends with a sync point (a fresh broker/status). After each case:
 *  1. the broker is still running;
 *  2. every request the broker could parse (a well-framed, valid JSON-RPC request) is answered exactly once,
 *     a well-framed invalid message carrying a readable id gets exactly one -32600 with that id, and nothing
 *     else gets an answer with an id (swallowed or unparseable requests get none); -32600 with id null is
 *     counted exactly, -32700 (always id null) within the bounds the contract allows;
 *  3. the sync broker/status gets a proper result;
 *  4. stdout carries only `Content-Length: N\r\n\r\n` + N bytes of JSON-RPC 2.0, all the time.
 *
 * Seed: PYCELL_FUZZ_SEED (default 20261123); runs: PYCELL_FUZZ_RUNS (default 200). A failure prints fast-check's
 * seed, path and counterexample, plus the exact stdin bytes of the failing case (also written to
 * $TMPDIR/pycell-fuzz-<seed>-failing-case.bin); PYCELL_FUZZ_PATH replays a path fast-check printed. A run that failed
 * leaves its broker behind: the next run (shrinking included) starts on a fresh one.
 * PYCELL_FUZZ_SKIP_FIXED=1 leaves out the inputs of the two bugs it found (both fixed; see the regression tests below).
 * PYCELL_FUZZ_CLI runs another build of cli.js (used to check that the checker catches planted faults).
 * PYCELL_FUZZ_VERBOSE=1 prints what was sent, by kind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { executeResultSchema } from '../../src/protocol/execute.js';
import { statusResultSchema } from '../../src/protocol/lifecycle.js';
import { MAX_MESSAGE_BYTES } from '../../src/rpc/reader.js';

const CLI = process.env.PYCELL_FUZZ_CLI ?? fileURLToPath(new URL('../../src/cli.js', import.meta.url)); // another build, to check the checker
const SEED = Number(process.env.PYCELL_FUZZ_SEED ?? 20261123);
const RUNS = Number(process.env.PYCELL_FUZZ_RUNS ?? 200);
/**
 * Generate the inputs of the two bugs this fuzz found (A: cancels without a usable id crashed the
 * broker; B: a second request with the id of one in flight was dropped). Both are fixed; set
 * PYCELL_FUZZ_SKIP_FIXED=1 to leave them out when bisecting something else.
 */
const KNOWN_BUGS = process.env.PYCELL_FUZZ_SKIP_FIXED !== '1';
const KNOWN_DUPLICATES = KNOWN_BUGS;
const VERBOSE = process.env.PYCELL_FUZZ_VERBOSE === '1';
const CASE_TIMEOUT_MS = 15_000;
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------
// The contract's view of one well-framed body (README, "Transport"): what the broker must answer.
// ---------------------------------------------------------------------------------------------------------

type Id = string | number;
type Verdict =
  | { kind: 'parse' } // not UTF-8 or not JSON: -32700, id null
  | { kind: 'invalid'; id: Id | null } // JSON but not JSON-RPC 2.0: -32600 with the id when one could be read
  | { kind: 'request'; id: Id; method: string } // exactly one answer with that id
  | { kind: 'silent'; method?: string }; // a notification or a response: no answer

const isId = (value: unknown): value is Id => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));

function judge(body: Buffer): Verdict {
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

/** Client → broker request methods; everything else sent with an id is -32601. */
const REQUEST_METHODS = new Set(['initialize', 'shutdown', 'execute', 'broker/status', 'session/open', 'session/restart', 'session/close', 'session/complete']);

// ---------------------------------------------------------------------------------------------------------
// Generated case items: small, printable specs (fast-check prints and shrinks these); bytes are rendered later.
// ---------------------------------------------------------------------------------------------------------

const HEADER_STYLES = ['std', 'std', 'std', 'lower', 'upper', 'nospace', 'spaces', 'ctBefore', 'ctAfter', 'xBefore'] as const;
type HeaderStyle = (typeof HEADER_STYLES)[number];

/** Valid framings of a body of n bytes: LSP's header, with the variations the contract allows. */
function header(style: HeaderStyle, n: number): string {
  switch (style) {
    case 'std': return `Content-Length: ${n}\r\n\r\n`;
    case 'lower': return `content-length: ${n}\r\n\r\n`;
    case 'upper': return `CONTENT-LENGTH: ${n}\r\n\r\n`;
    case 'nospace': return `Content-Length:${n}\r\n\r\n`;
    case 'spaces': return `Content-Length: \t ${n} \t\r\n\r\n`;
    case 'ctBefore': return `Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: ${n}\r\n\r\n`;
    case 'ctAfter': return `Content-Length: ${n}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n`;
    case 'xBefore': return `X-Fuzz: 1\r\nX-Other: a:b:c\r\nContent-Length: ${n}\r\n\r\n`;
  }
}

type IdSpec =
  | { k: 'int' | 'neg' | 'frac' | 'big' | 'sci' }
  | { k: 'str'; p: string }
  | { k: 'exact'; text: string }
  | { k: 'old'; n: number }
  | { k: 'long'; n: number }
  | { k: 'dup' | 'twin' }; // (bug B, fixed) the id of an earlier request of the case, or its number/string twin

type CancelTarget = { to: 'exec' } | { to: 'id'; id: IdSpec } | { to: 'weird'; text: string };
type HugeShape = 'string' | 'deepArray' | 'deepObject' | 'deepParams' | 'wide' | 'longId' | 'bigCode' | 'tooBigCode';
type EnvelopeId = { v: IdSpec } | { bad: string } | null;

type Item =
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

const WEIRD_METHODS = [
  'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', 'prototype',
  '$/weird', '$/', '$/cancelRequest', '$/setTrace', '$/logTrace', '$/progress', 'exit', 'Exit', 'EXIT', 'exit ', ' exit', 'exit\u0000',
  'Shutdown', 'SHUTDOWN', 'shutdown ', 'shutdown/', 'initialize/', 'initialized', 'Initialize', 'execute/output', 'execute/display',
  'input/request', 'Execute', ' execute', 'execute\u0000', 'execute/', 'broker', 'broker/', 'broker/status/', 'broker/Status',
  'session', 'session/', 'session/open/', 'session/../execute', '', '/', '.', 'rpc.discover', '\ud800', '😀/😀', 'a'.repeat(300),
];
/** Names a notification may carry: anything but `exit`, which would (rightly) end the broker. */
const NOTIFY_METHODS = [...WEIRD_METHODS, ...REQUEST_METHODS, 'exit/'].filter((m) => m !== 'exit');

const POLLUTION = [
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
const POLLUTE_METHODS = ['execute', 'broker/status', 'session/open', 'session/close', 'session/restart', 'session/complete', 'initialize', '__proto__', 'constructor', '$/progress', '$/cancelRequest'];

/** Known methods with params the contract refuses; the codes the answer may carry. */
const BAD_PARAMS: [method: string, params: string | null, codes: number[]][] = [
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

const BAD_JSON = ['', 'not json', 'undefined', 'NaN', "{'a':1}", '{"a":1,}', '[1,]', '{"jsonrpc":"2.0","id":1,"method":"x",}', '{', '}', '"unterminated', '\u0000', '01', '1 2'];
/** Invalid UTF-8 sequences: a stray byte, a lone continuation, an overlong NUL, truncated sequences, a UTF-8 surrogate, past U+10FFFF. */
const BAD_UTF8 = [[0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3, 0x28]];
/** Header blocks that are not a valid frame header: a bad, missing, huge or misspelled Content-Length. */
const BAD_HEADERS = [
  'Content-Length: abc', 'Content-Length: -5', 'Content-Length: 1.5', 'Content-Length: 1e3', 'Content-Length: 0x10', 'Content-Length: ',
  'Content-Length: +12', 'Content-Length: 12abc', 'Content-Length: 1 2', 'Content-Length: 9999999999999999', 'Content-Length: 99999999999999999999999999999',
  'Content-Type: application/json', 'Content-Lenght: 12', 'Content_Length: 12', '', 'Content-Length 12', 'X-Only: 1\r\nY-Only: 2',
];
/** Bug A (fixed): $/cancelRequest params without a usable id crashed the broker (see the regression tests below). */
const BAD_CANCELS = [
  '{"jsonrpc":"2.0","method":"$/cancelRequest"}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{}}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":[]}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":[1]}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":null}}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":{"toString":1}}}',
  '{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"__proto__":{"id":1}}}',
  `{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":${'['.repeat(5000)}${']'.repeat(5000)}}}`,
];

const small = (max: number) => fc.integer({ min: 0, max });
const frac = fc.integer({ min: 0, max: 1000 });
const headerArb = fc.constantFrom(...HEADER_STYLES);
const idArb: fc.Arbitrary<IdSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<IdSpec>({ k: 'int' }, { k: 'neg' }, { k: 'frac' }, { k: 'big' }, { k: 'sci' }) },
  { weight: 4, arbitrary: fc.constantFrom('', 'id-', '__proto__', 'constructor.', 'toString', ' ', '\u0000', 'é', '😀', '\ud800', '"', '\\', '\n', 'req-').map((p): IdSpec => ({ k: 'str', p })) },
  { weight: 3, arbitrary: fc.constantFrom('0', '-1', '-0', '1.5', '1e2', '0.0', '9007199254740993', '1e21', '5e-324', '1.7976931348623157e308', '123456789012345678901234567890', '""', '"__proto__"', '"constructor"', '"toString"', '"hasOwnProperty"', '"valueOf"', '"0"', '"null"', '"NaN"').map((text): IdSpec => ({ k: 'exact', text })) },
  { weight: 2, arbitrary: small(7).map((n): IdSpec => ({ k: 'old', n })) },
  { weight: 1, arbitrary: fc.constantFrom(1000, 100_000, MiB).map((n): IdSpec => ({ k: 'long', n })) },
  ...(KNOWN_DUPLICATES ? [{ weight: 2, arbitrary: fc.constantFrom<IdSpec>({ k: 'dup' }, { k: 'twin' }) }] : []),
);
const randomName = fc.string({ unit: 'binary', maxLength: 24 }).filter((m) => !REQUEST_METHODS.has(m) && m !== 'exit' && m !== '$/cancelRequest');
const paramsArb: fc.Arbitrary<string | null> = fc.oneof(
  fc.constant(null), fc.constant('{}'), fc.constant('[]'),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.constantFrom(...POLLUTION),
);

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  { weight: 50, arbitrary: fc.record({ t: fc.constant('status' as const), id: idArb, params: fc.boolean(), hdr: headerArb, pad: fc.boolean() }) },
  { weight: 45, arbitrary: fc.record({ t: fc.constant('exec' as const), id: idArb, snippet: fc.constantFrom('print' as const, 'print' as const, 'error' as const, 'spin' as const, 'value' as const), token: fc.constantFrom('none' as const, 'string' as const, 'int' as const), spinMs: fc.integer({ min: 50, max: 250 }), hdr: headerArb }) },
  { weight: 12, arbitrary: fc.record({ t: fc.constant('session' as const), id: idArb, run: fc.boolean(), after: fc.boolean() }) },
  { weight: 50, arbitrary: fc.record({ t: fc.constant('request' as const), id: idArb, method: fc.oneof(fc.constantFrom(...WEIRD_METHODS), randomName), params: paramsArb }) },
  { weight: 40, arbitrary: fc.record({ t: fc.constant('badParams' as const), id: idArb, which: small(BAD_PARAMS.length - 1) }) },
  { weight: 40, arbitrary: fc.record({ t: fc.constant('notify' as const), method: fc.oneof(fc.constantFrom(...NOTIFY_METHODS), randomName), params: paramsArb }) },
  { weight: 40, arbitrary: fc.record({ t: fc.constant('cancel' as const), extra: fc.boolean(), target: fc.oneof(
    fc.constant<CancelTarget>({ to: 'exec' }),
    idArb.filter((id) => id.k !== 'dup' && id.k !== 'twin').map((id): CancelTarget => ({ to: 'id', id })),
    fc.constantFrom('true', 'false', '{}', '{"a":1}', '[]', '[1,"a",[2]]', '1.5', '-0', '1e308', '""', '"__proto__"', '"toString"', '"constructor"').map((text): CancelTarget => ({ to: 'weird', text })),
  ) }) },
  { weight: 40, arbitrary: fc.record({
    t: fc.constant('envelope' as const),
    jsonrpc: fc.constantFrom(null, '"2.0"', '"2.0"', '"1.0"', '2', '2.0', 'null', '"2.00"', '"2.0 "', '["2.0"]'),
    id: fc.oneof(fc.constant(null), idArb.map((v): EnvelopeId => ({ v })), fc.constantFrom('null', 'true', 'false', '{}', '[]', '[1]', '{"a":1}', '1e400', '-1e400').map((bad): EnvelopeId => ({ bad }))),
    method: fc.constantFrom(null, '"broker/status"', '"no/such"', '"$/weird"', '5', 'null', 'true', '{}', '[]', '""'),
    params: fc.constantFrom(null, '{}', '[]', 'null', '5', '"s"', 'true', '[1,2]'),
    extra: fc.constantFrom(null, '"result":null', '"result":{}', '"error":{"code":1,"message":"x"}', '"error":null', '"error":"boom"', '"result":1,"error":{}'),
  }) },
  { weight: 15, arbitrary: fc.record({ t: fc.constant('batch' as const), inner: fc.constantFrom('requests' as const, 'empty' as const, 'numbers' as const, 'nested' as const), n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant('nonObject' as const), text: fc.constantFrom('1', '0', '-0', '"s"', 'null', 'true', 'false', '"\\u0000"', '1e400', '  42  ') }) },
  { weight: 20, arbitrary: fc.record({ t: fc.constant('badJson' as const), which: small(BAD_JSON.length + 3), frac }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant('randomBody' as const), text: fc.string({ unit: 'binary', maxLength: 40 }) }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant('randomBytes' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }) }) },
  { weight: 25, arbitrary: fc.record({ t: fc.constant('badUtf8' as const), which: small(BAD_UTF8.length - 1), where: fc.constantFrom('string' as const, 'start' as const, 'end' as const) }) },
  { weight: 30, arbitrary: fc.record({ t: fc.constant('badHeader' as const), which: small(BAD_HEADERS.length - 1), body: fc.constantFrom('request' as const, 'none' as const, 'junk' as const) }) },
  { weight: 30, arbitrary: fc.record({ t: fc.constant('junk' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 60 }), big: fc.boolean(), blank: fc.boolean() }) },
  { weight: 25, arbitrary: fc.record({ t: fc.constant('truncated' as const), prefix: frac, frames: small(3), pad: fc.constantFrom(0, 0, 7, 300, 20_000, 2 * MiB), cut: frac, hdr: headerArb }) },
  { weight: 1, arbitrary: fc.constant({ t: 'oversized' as const }) },
  { weight: 25, arbitrary: fc.record({
    t: fc.constant('huge' as const),
    shape: fc.constantFrom<HugeShape>('string', 'deepArray', 'deepObject', 'deepParams', 'wide', 'longId', 'tooBigCode', 'string', 'deepArray', 'wide'),
    size: fc.constantFrom(1, 2, 3, 4),
    method: fc.constantFrom('broker/status' as const, 'execute' as const, 'no/such' as const, 'session/close' as const, 'notify' as const),
  }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('huge' as const), shape: fc.constant<HugeShape>('bigCode'), size: fc.constantFrom(1, 2, 3), method: fc.constant('execute' as const) }) },
  { weight: 30, arbitrary: fc.record({ t: fc.constant('pollute' as const), id: idArb, method: fc.constantFrom(...POLLUTE_METHODS), payload: small(POLLUTION.length - 1), notification: fc.boolean() }) },
  ...(KNOWN_BUGS ? [{ weight: 10, arbitrary: fc.record({ t: fc.constant('badCancel' as const), which: small(BAD_CANCELS.length - 1) }) }] : []),
);

const count = (items: Item[], pred: (item: Item) => boolean): number => items.filter(pred).length;
/** A case: items plus where the bytes are split into separate writes (the reader sees partial frames). */
const caseArb = fc.record({
  items: fc.array(itemArb, { minLength: 1, maxLength: 14 }).filter((items) =>
    count(items, (i) => i.t === 'exec' || (i.t === 'huge' && i.shape === 'bigCode')) <= 3
    && count(items, (i) => i.t === 'session') <= 1
    && count(items, (i) => i.t === 'oversized') <= 1),
  splits: fc.array(fc.nat(), { maxLength: 5 }),
});
type Case = { items: Item[]; splits: number[] };

// ---------------------------------------------------------------------------------------------------------
// The broker process, its stdout as frames, and the ledger of expected answers.
// ---------------------------------------------------------------------------------------------------------

interface RpcError { code: number; message: string; data?: unknown }
interface Answer { jsonrpc: '2.0'; id: Id | null; result?: unknown; error?: RpcError }
type Check = (answer: Answer) => string | undefined;
/** slow: needs a sandbox (an execute that runs, a session); every other answer is written before the sync point's. */
interface Expectation { key: string; label: string; check: Check | undefined; answered: boolean; answer?: Answer; slow?: boolean }
interface TokenRecord { stdout: string; stderr: string; answered: boolean }

const keyOf = (id: Id): string => JSON.stringify(id);
const short = (text: string, max = 160): string => (text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text);

class Broker {
  readonly child: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stderr = '';
  /** Everything wrong seen on stdout or in answers, in order. */
  readonly violations: string[] = [];
  readonly pending = new Map<string, Expectation[]>();
  readonly tokens = new Map<string, TokenRecord>();
  nullParse = 0;
  nullInvalid = 0;
  frames = 0;
  stdoutBytes = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private desynced = false;
  private wake: (() => void)[] = [];
  /** Ids of earlier cases, all answered: a later case may reuse them. */
  pastIds: Id[] = [];

  constructor(extraArgs: string[] = []) {
    this.child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--pool-size', '1', '--log-level', 'silent', ...extraArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => undefined); // EPIPE after a crash is reported as the crash
    this.child.stdout!.on('data', (chunk: Buffer) => this.onStdout(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString('utf8')).slice(-8000)));
    this.child.once('exit', (code, signal) => {
      this.exit = { code, signal };
      this.notify();
    });
  }

  static async start(extraArgs: string[] = []): Promise<Broker> {
    const broker = new Broker(extraArgs);
    const init = broker.expect('"init"', 'initialize', (a) => ((a.result as { serverInfo?: { name?: string } } | undefined)?.serverInfo?.name === 'pycell' ? undefined : `initialize failed: ${short(JSON.stringify(a))}`));
    await broker.write(frame('{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"clientInfo":{"name":"fuzz"}}}'));
    await broker.until(() => init.answered, 20_000);
    assert.ok(init.answered, `the broker did not answer initialize: ${broker.stderr}`);
    assert.deepEqual(broker.violations, []);
    broker.pastIds = ['init'];
    return broker;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  expect(key: string, label: string, check: Check | undefined): Expectation {
    const expectation: Expectation = { key, label, check, answered: false };
    const queue = this.pending.get(key) ?? [];
    queue.push(expectation);
    this.pending.set(key, queue);
    return expectation;
  }

  async write(bytes: Buffer): Promise<void> {
    if (!this.alive) return;
    await new Promise<void>((resolve) => this.child.stdin!.write(bytes, () => resolve()));
  }

  /** Resolves when the predicate holds, the broker exits, stdout stops being frames, or the time is up. */
  async until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (!this.alive || this.desynced || Date.now() > deadline) return predicate();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(200, Math.max(1, deadline - Date.now())));
        this.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const fn of wake) fn();
  }

  private violation(text: string): void {
    this.violations.push(text);
  }

  /** Splits stdout into frames; anything that is not `Content-Length: N\r\n\r\n` + N bytes of JSON-RPC is a violation. */
  private onStdout(chunk: Buffer): void {
    this.stdoutBytes += chunk.length;
    if (this.desynced) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    let buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffer.length > 64) this.desync(`stdout: ${buffer.length} bytes without a header: ${dump(buffer.subarray(0, 120))}`);
        break;
      }
      const head = buffer.subarray(0, end).toString('latin1');
      const match = /^Content-Length: (\d+)$/.exec(head);
      if (!match) {
        this.desync(`stdout: not a Content-Length header: ${dump(buffer.subarray(0, Math.min(end + 4, 120)))}`);
        break;
      }
      const length = Number(match[1]);
      if (buffer.length < end + 4 + length) break;
      const body = buffer.subarray(end + 4, end + 4 + length);
      buffer = buffer.subarray(end + 4 + length);
      this.frames++;
      this.onBody(body);
    }
    this.chunks = buffer.length > 0 ? [Buffer.from(buffer)] : [];
    this.buffered = buffer.length;
    this.notify();
  }

  private desync(text: string): void {
    this.violation(text);
    this.desynced = true;
    this.chunks = [];
  }

  /** Bytes read from stdout that do not (yet) make a whole frame. */
  get leftover(): number {
    return this.buffered;
  }

  private onBody(body: Buffer): void {
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

const frame = (body: string | Buffer, style: HeaderStyle = 'std'): Buffer => {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([Buffer.from(header(style, bytes.length), 'latin1'), bytes]);
};

/** Printable ASCII as is, everything else escaped: the exact bytes, for a failure message. */
function dump(bytes: Buffer, max = 400): string {
  let out = '';
  for (const byte of bytes.subarray(0, max)) {
    if (byte === 0x0d) out += '\\r';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x5c) out += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return bytes.length > max ? `${out}…(${bytes.length} bytes)` : out;
}

// ---------------------------------------------------------------------------------------------------------
// Checks on answers.
// ---------------------------------------------------------------------------------------------------------

const errorCode = (codes: number[]): Check => (a) => (a.error && codes.includes(a.error.code) ? undefined : `expected an error ${codes.join('|')}, got ${short(JSON.stringify(a), 300)}`);
const anError: Check = (a) => (a.error ? undefined : `expected an error, got ${short(JSON.stringify(a), 300)}`);
const methodCheck = (method: string): Check | undefined => {
  if (!REQUEST_METHODS.has(method)) return errorCode([-32601]);
  if (method === 'initialize') return errorCode([-32600]);
  return undefined; // a known method with odd params: any one answer (-32603 is flagged for every answer)
};
const statusCheck: Check = (a) => {
  if (!a.result) return `expected a broker/status result, got ${short(JSON.stringify(a), 300)}`;
  const parsed = statusResultSchema.safeParse(a.result);
  if (!parsed.success) return `broker/status result does not match its schema: ${parsed.error.issues[0]?.message} in ${short(JSON.stringify(a.result), 300)}`;
  if (JSON.stringify(a.result).includes('polluted')) return `broker/status shows pollution: ${short(JSON.stringify(a.result), 300)}`;
  return undefined;
};

// ---------------------------------------------------------------------------------------------------------
// Rendering one case into bytes, registering what the contract says must come back.
// ---------------------------------------------------------------------------------------------------------

let SEQ = 1000;
let fill: Buffer | undefined;
/** Spaces: padding of truncated bodies, and the skipped body of an oversized frame (allocated once, when first needed). */
const FILL = (): Buffer => (fill ??= Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20));

interface Exec { key: string; cancelled: boolean }
interface SessionPlan { expectation: Expectation; run: boolean; after: boolean }

class CaseBytes {
  readonly segments: Buffer[] = [];
  readonly expectations: Expectation[] = [];
  readonly execs: Exec[] = [];
  readonly sessions: SessionPlan[] = [];
  parseMin = 0;
  parseMax = 0;
  nullInvalid = 0;
  private readonly used = new Set<string>(); // String(id): vscode-jsonrpc keys its queue by it
  private readonly requestIds: string[] = []; // id texts, for the known-bug duplicates

  constructor(private readonly broker: Broker) {}

  push(bytes: Buffer | string, parse: [number, number] = [0, 0]): void {
    this.segments.push(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    this.parseMin += parse[0];
    this.parseMax += parse[1];
  }

  /** A fresh id nobody else uses, as JSON text. */
  freshId(kind: 'number' | 'string' = 'number'): string {
    const n = ++SEQ;
    this.used.add(String(kind === 'number' ? n : `f${n}`));
    return kind === 'number' ? String(n) : JSON.stringify(`f${n}`);
  }

  id(spec: IdSpec): string {
    const n = ++SEQ;
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
    const expectation = this.broker.expect(key, `${label} [id ${short(key, 60)}]`, duplicate ? undefined : check);
    if (duplicate) for (const e of this.expectations) if (String(JSON.parse(e.key)) === String(id)) e.check = undefined;
    this.expectations.push(expectation);
    this.requestIds.push(key);
    return expectation;
  }

  /** A request text whose bytes will be swallowed: its id is fresh, so any answer to it is a violation. */
  swallowed(method = 'broker/status'): string {
    return `{"jsonrpc":"2.0","id":${this.freshId()},"method":${JSON.stringify(method)}}`;
  }

  render(item: Item): void {
    switch (item.t) {
      case 'status': {
        const body = `{"jsonrpc":"2.0","id":${this.id(item.id)},"method":"broker/status"${item.params ? ',"params":{}' : ''}}`;
        this.framed(item.pad ? ` \t\r\n${body}\n ` : body, 'broker/status', statusCheck, item.hdr);
        return;
      }
      case 'exec': return this.exec(item);
      case 'session': {
        const verdict = this.framed(`{"jsonrpc":"2.0","id":${this.id(item.id)},"method":"session/open","params":{"limits":{"timeoutMs":5000}}}`, 'session/open',
          (a) => (typeof (a.result as { session?: unknown } | undefined)?.session === 'string' ? undefined : `session/open failed: ${short(JSON.stringify(a), 300)}`));
        if (verdict.kind === 'request') {
          this.expectations.at(-1)!.slow = true;
          this.sessions.push({ expectation: this.expectations.at(-1)!, run: item.run, after: item.after });
        }
        return;
      }
      case 'request': {
        const params = item.params === null ? '' : `,"params":${item.params}`;
        this.framed(`{"jsonrpc":"2.0","id":${this.id(item.id)},"method":${JSON.stringify(item.method)}${params}}`, `request ${short(JSON.stringify(item.method), 40)}`);
        return;
      }
      case 'badParams': {
        const [method, params, codes] = BAD_PARAMS[item.which]!;
        this.framed(`{"jsonrpc":"2.0","id":${this.id(item.id)},"method":"${method}"${params === null ? '' : `,"params":${params}`}}`, `${method} ${params}`, errorCode(codes));
        return;
      }
      case 'notify': {
        const params = item.params === null ? '' : `,"params":${item.params}`;
        if (item.method === '$/cancelRequest' && !KNOWN_BUGS) return this.render({ t: 'cancel', target: { to: 'weird', text: '"unknown"' }, extra: false });
        this.framed(`{"jsonrpc":"2.0","method":${JSON.stringify(item.method)}${params}}`, 'notification');
        return;
      }
      case 'cancel': {
        let id: string;
        if (item.target.to === 'exec') {
          const exec = this.execs.at(-1);
          if (exec) exec.cancelled = true;
          id = exec ? exec.key : this.freshId('string');
        } else if (item.target.to === 'id') id = this.id(item.target.id);
        else id = item.target.text;
        if (item.target.to === 'weird') {
          const value = JSON.parse(id) as unknown;
          if (isId(value)) {
            if (this.used.has(String(value))) id = this.freshId('string');
            else this.used.add(String(value));
          }
        }
        this.framed(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":${id}${item.extra ? ',"extra":[1,{"__proto__":{}}]' : ''}}}`, 'cancel');
        return;
      }
      case 'envelope': {
        const fields: string[] = [];
        if (item.jsonrpc !== null) fields.push(`"jsonrpc":${item.jsonrpc}`);
        if (item.id !== null) fields.push(`"id":${'v' in item.id ? this.id(item.id.v) : item.id.bad}`);
        if (item.method !== null) fields.push(`"method":${item.method}`);
        if (item.params !== null) fields.push(`"params":${item.params}`);
        if (item.extra !== null) fields.push(item.extra);
        this.framed(`{${fields.join(',')}}`, `envelope {${short(fields.join(','), 120)}}`);
        return;
      }
      case 'batch': {
        const inner = item.inner === 'requests' ? Array.from({ length: item.n }, () => this.swallowed()).join(',')
          : item.inner === 'numbers' ? '1,2,3' : item.inner === 'nested' ? `[${this.swallowed()}]` : '';
        this.framed(`[${inner}]`, 'batch');
        return;
      }
      case 'nonObject': this.framed(item.text, 'non-object'); return;
      case 'badJson': {
        const request = `{"jsonrpc":"2.0","id":${this.freshId()},"method":"broker/status","params":{"x":"ü€😀"}}`;
        const cut = Math.floor((item.frac / 1000) * (request.length - 1));
        const body = item.which < BAD_JSON.length ? BAD_JSON[item.which]!
          : item.which === BAD_JSON.length ? request.slice(0, cut) // a truncated request
            : item.which === BAD_JSON.length + 1 ? `${request}x` : item.which === BAD_JSON.length + 2 ? `${request}${request}` : `${request}}`;
        this.framed(body, 'bad JSON');
        return;
      }
      case 'randomBody': this.framed(item.text, 'random text body'); return;
      case 'randomBytes': this.framed(Buffer.from(item.bytes), 'random bytes body'); return;
      case 'badUtf8': {
        const bad = Buffer.from(BAD_UTF8[item.which]!);
        const [before, after] = [`{"jsonrpc":"2.0","id":${this.freshId()},"method":"broker/status","params":{"x":"a`, 'b"}}'];
        const body = item.where === 'string' ? Buffer.concat([Buffer.from(before), bad, Buffer.from(after)])
          : item.where === 'start' ? Buffer.concat([bad, Buffer.from(before + after)]) : Buffer.concat([Buffer.from(before + after), bad]);
        this.framed(body, 'invalid UTF-8');
        return;
      }
      case 'badHeader': {
        const body = item.body === 'request' ? this.swallowed() : item.body === 'junk' ? 'junk after a bad header' : '';
        // One -32700 for the header; the body behind it is junk before the next header (answered at most once).
        this.push(`${BAD_HEADERS[item.which]!}\r\n\r\n${body}`, [1, body === '' ? 1 : 2]);
        return;
      }
      case 'junk': {
        let text = Buffer.from(item.bytes).toString('latin1');
        if (item.big) text = text.repeat(Math.ceil(12_000 / text.length));
        text = text.replace(/content-length/gi, 'content_length');
        while (text.includes('\r\n\r\n')) text = text.replaceAll('\r\n\r\n', '\r\n');
        // Bytes before a header are skipped and answered -32700 (at most once); a blank line ends a header block without Content-Length: -32700.
        this.push(item.blank ? `${text}\r\n\r\n` : text, item.blank ? [1, 2] : [0, 1]);
        return;
      }
      case 'truncated': {
        // Content-Length N, then fewer bytes than N: the valid frames that follow are read as the rest of the body.
        const request = this.swallowed('execute');
        const prefix = request.slice(0, Math.floor((item.prefix / 1000) * (request.length - 1)));
        const frames = Array.from({ length: item.frames }, () => frame(this.swallowed()));
        const next = frame(this.swallowed());
        const cut = 1 + Math.floor((item.cut / 1000) * (next.length - 2));
        const swallowed = Buffer.concat([Buffer.from(prefix), ...frames, FILL().subarray(0, item.pad), next.subarray(0, cut)]);
        this.push(Buffer.concat([Buffer.from(header(item.hdr, swallowed.length), 'latin1'), swallowed]), [1, 1]);
        // The rest of the frame cut in two is junk (answered at most once).
        this.push(next.subarray(cut), [0, 1]);
        return;
      }
      case 'oversized': {
        // Declared past the limit: skipped without buffering, even when what it covers looks like a valid frame.
        const inside = frame(this.swallowed());
        this.push(`Content-Length: ${MAX_MESSAGE_BYTES + 1}\r\n\r\n`, [1, 1]);
        this.push(inside);
        this.push(FILL().subarray(inside.length));
        return;
      }
      case 'huge': return this.huge(item);
      case 'pollute': {
        const payload = POLLUTION[item.payload]!;
        if (item.notification) {
          // $/cancelRequest params without an own id (the id only on __proto__) are bug A (fixed).
          if (item.method === '$/cancelRequest' && !KNOWN_BUGS && !payload.startsWith('{"id":')) return;
          this.framed(`{"jsonrpc":"2.0","method":"${item.method}","params":${payload}}`, 'polluting notification');
        } else {
          this.framed(`{"jsonrpc":"2.0","id":${this.id(item.id)},"method":"${item.method}","params":${payload}}`, `${item.method} ${payload}`,
            REQUEST_METHODS.has(item.method) ? anError : errorCode([-32601]));
        }
        return;
      }
      case 'badCancel': this.framed(BAD_CANCELS[item.which]!, 'bug A: cancel without a usable id'); return;
    }
  }

  private exec(item: Extract<Item, { t: 'exec' }>): void {
    const n = ++SEQ;
    const code = { print: `print(${n})`, error: '1/0', spin: 'while True: pass', value: '6 * 7' }[item.snippet];
    const limits = item.snippet === 'spin' ? `{"timeoutMs":${item.spinMs}}` : '{"timeoutMs":8000,"cpuMs":5000}';
    const token = item.token === 'none' ? undefined : item.token === 'string' ? JSON.stringify(`tok-${n}`) : String(n);
    const record: TokenRecord | undefined = token === undefined ? undefined : { stdout: '', stderr: '', answered: false };
    if (token !== undefined) this.broker.tokens.set(token, record!);
    const id = this.id(item.id);
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
    const verdict = this.framed(`{"jsonrpc":"2.0","id":${id},"method":"execute","params":${params}}`, `execute ${item.snippet}`, check, item.hdr);
    if (verdict.kind === 'request') {
      this.expectations.at(-1)!.slow = true;
      this.execs.push(exec);
    }
  }

  private huge(item: Extract<Item, { t: 'huge' }>): void {
    const size = item.size;
    let params: string;
    let check: Check | undefined;
    let id = this.freshId();
    switch (item.shape) {
      case 'string': params = `{"x":"${'a'.repeat(size * MiB)}"}`; break; // up to 4 MiB
      case 'deepArray': params = `{"x":${'['.repeat(size * 2500)}${']'.repeat(size * 2500)}}`; break;
      case 'deepObject': params = `{"x":${'{"a":'.repeat(size * 2500)}1${'}'.repeat(size * 2500)}}`; break;
      case 'deepParams': params = `${'['.repeat(size * 5000)}${']'.repeat(size * 5000)}`; break;
      case 'wide': params = `{${Array.from({ length: size * 12_500 }, (_, i) => `"k${i}":${i}`).join(',')}}`; break;
      case 'longId': params = '{}'; id = JSON.stringify(`${'L'.repeat(size * MiB / 4)}${++SEQ}`); break;
      case 'tooBigCode': params = `{"code":"${'x'.repeat(4 * MiB + size)}"}`; break;
      case 'bigCode': params = `{"code":"print(1)  # ${'x'.repeat(size * MiB)}","limits":{"timeoutMs":8000}}`; break;
    }
    let method: string = item.method;
    if (item.shape === 'bigCode' || item.shape === 'tooBigCode') method = 'execute';
    if (item.shape === 'longId' && method === 'notify') method = 'broker/status';
    if (method === 'notify') {
      this.framed(`{"jsonrpc":"2.0","method":"$/progress","params":${params}}`, `huge ${item.shape} notification`);
      return;
    }
    if (method === 'no/such') check = errorCode([-32601]);
    else if (item.shape === 'bigCode') check = (a) => ((a.result as { status?: string; stdout?: string } | undefined)?.stdout === '1\n' ? undefined : `expected stdout "1\\n": ${short(JSON.stringify(a), 300)}`);
    else if (item.shape === 'longId' && method === 'broker/status') check = statusCheck;
    else check = errorCode([-32602]); // an unknown field, a wrong type, code past 4 Mi, or {} where a session is needed
    this.framed(`{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${params}}`, `huge ${item.shape} ${method}`, check);
    if (item.shape === 'bigCode') this.expectations.at(-1)!.slow = true;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Running a case against the broker.
// ---------------------------------------------------------------------------------------------------------

let broker: Broker | undefined;
let tainted = false;
const stats = { cases: 0, items: 0, requests: 0, bytes: 0, respawns: 0, byKind: {} as Record<string, number> };

async function send(target: Broker, body: string, label: string, check: Check): Promise<Expectation> {
  const id = JSON.parse(body).id as Id;
  const expectation = target.expect(keyOf(id), label, check);
  await target.write(frame(body));
  return expectation;
}

async function runCase(fuzzCase: Case): Promise<void> {
  if (!broker || !broker.alive || tainted) {
    await broker?.stop();
    broker = await Broker.start();
    stats.respawns++;
    tainted = false;
  }
  const b = broker;
  const startViolations = b.violations.length;
  const startParse = b.nullParse;
  const startInvalid = b.nullInvalid;
  const bytes = new CaseBytes(b);
  for (const item of fuzzCase.items) {
    bytes.render(item);
    stats.byKind[item.t] = (stats.byKind[item.t] ?? 0) + 1;
  }
  stats.cases++;
  stats.items += fuzzCase.items.length;

  // Phase 1: the generated bytes, split into separate writes where the case says so.
  let pending: Buffer[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const all = Buffer.concat(pending);
    pending = [];
    const cuts = [...new Set(fuzzCase.splits.map((s) => s % all.length))].sort((x, y) => x - y);
    let at = 0;
    for (const cut of [...cuts, all.length]) {
      if (cut <= at) continue;
      await b.write(all.subarray(at, cut));
      at = cut;
      if (cut < all.length) await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  for (const segment of bytes.segments) {
    stats.bytes += segment.length;
    if (segment.length >= 8 * MiB) {
      await flush();
      await b.write(segment);
    } else pending.push(segment);
  }
  await flush();

  // Phase 2: sessions opened above are used and closed once their id is known.
  const late: Expectation[] = [];
  for (const plan of bytes.sessions) {
    await b.until(() => plan.expectation.answered, CASE_TIMEOUT_MS);
    const session = (plan.expectation.answer?.result as { session?: unknown } | undefined)?.session;
    if (typeof session !== 'string') continue; // its check reported why
    const ref = JSON.stringify(session);
    if (plan.run) {
      const run = await send(b, `{"jsonrpc":"2.0","id":"sx-${++SEQ}","method":"execute","params":{"session":${ref},"code":"x = 41\\nx + 1"}}`, 'session execute',
        (a) => ((a.result as { status?: string; value?: Record<string, string> } | undefined)?.value?.['text/plain'] === '42' ? undefined : `session execute: ${short(JSON.stringify(a), 300)}`));
      late.push(run);
      await b.until(() => run.answered, CASE_TIMEOUT_MS);
    }
    const close = await send(b, `{"jsonrpc":"2.0","id":"sc-${++SEQ}","method":"session/close","params":{"session":${ref}}}`, 'session/close',
      (a) => ('result' in a && a.result === null ? undefined : `session/close: ${short(JSON.stringify(a), 300)}`));
    late.push(close);
    await b.until(() => close.answered, CASE_TIMEOUT_MS);
    if (plan.after) {
      late.push(await send(b, `{"jsonrpc":"2.0","id":"sa-${++SEQ}","method":"session/close","params":{"session":${ref}}}`, 'second session/close', errorCode([-32011])));
      late.push(await send(b, `{"jsonrpc":"2.0","id":"sb-${++SEQ}","method":"execute","params":{"session":${ref},"code":"1"}}`, 'execute in a closed session', errorCode([-32011])));
    }
  }

  // The sync point: a fresh broker/status after everything else.
  const syncId = `sync-${++SEQ}`;
  let sessionsAtSync = -1;
  const sync = await send(b, `{"jsonrpc":"2.0","id":"${syncId}","method":"broker/status"}`, 'sync broker/status', (a) => {
    const problem = statusCheck(a);
    if (problem) return problem;
    const status = a.result as { sessions: number; unavailable: string | null };
    sessionsAtSync = status.sessions;
    return status.unavailable === null ? undefined : `sandboxes unavailable: ${status.unavailable}`;
  });
  const all = [...bytes.expectations, ...late, sync];
  // Requests that need no sandbox are answered before the sync (vscode-jsonrpc dispatches in arrival order, and
  // their handlers do not wait): once the sync is answered, only runs and sessions may still be on their way.
  await b.until(() => sync.answered && all.every((e) => e.answered || e.slow), CASE_TIMEOUT_MS);
  await b.until(() => all.every((e) => e.answered), 2000);

  const problems: string[] = [];
  if (!b.alive) problems.push(`1. the broker exited (${JSON.stringify(b.exit)}); stderr: ${b.stderr.slice(-3000)}`);
  const unanswered = all.filter((e) => !e.answered);
  if (unanswered.length > 0) problems.push(`2. never answered: ${unanswered.map((e) => e.label).join('; ')}`);
  const parse = b.nullParse - startParse;
  if (parse < bytes.parseMin || parse > bytes.parseMax) problems.push(`2. ${parse} -32700 answers, expected ${bytes.parseMin}..${bytes.parseMax}`);
  const invalid = b.nullInvalid - startInvalid;
  if (invalid !== bytes.nullInvalid) problems.push(`2. ${invalid} -32600 answers with id null, expected ${bytes.nullInvalid}`);
  if (!sync.answered || !sync.answer?.result) problems.push('3. the sync broker/status got no result');
  if (sessionsAtSync > 0) problems.push(`3. ${sessionsAtSync} sessions open at the sync point (all were closed)`);
  problems.push(...b.violations.slice(startViolations));
  stats.requests += all.length;
  b.pastIds = [syncId, ...bytes.expectations.slice(0, 7).map((e) => JSON.parse(e.key) as Id)];

  if (problems.length > 0) {
    tainted = true; // start the next run (shrinking included) on a fresh broker
    const wire = Buffer.concat(bytes.segments.filter((s) => s.length < 8 * MiB));
    // Overwritten by each failing run: after shrinking it holds the reported (smallest) counterexample.
    const file = join(tmpdir(), `pycell-fuzz-${SEED}-failing-case.bin`);
    writeFileSync(file, wire);
    const shown = bytes.segments.map((s) => `  ${s.length >= 8 * MiB ? `<${s.length} bytes of the oversized body>` : dump(s, 600)}`).join('\n');
    throw new assert.AssertionError({
      message: `broker contract violated (seed ${SEED}):\n- ${problems.map((p) => short(p, 2000)).join('\n- ')}\nstdin bytes of this case, in order (also in ${file}, without any oversized body):\n${shown}`,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Hand-written cases run first (fast-check `examples`): every kind of item at least once, whatever the seed.
// ---------------------------------------------------------------------------------------------------------

const EXAMPLES: Case[] = [
  { items: [
    { t: 'junk', bytes: [...Buffer.from('garbage without a header')], big: false, blank: true },
    { t: 'badJson', which: BAD_JSON.length, frac: 600 },
    { t: 'badUtf8', which: 0, where: 'string' },
    { t: 'batch', inner: 'requests', n: 2 },
    { t: 'exec', id: { k: 'int' }, snippet: 'print', token: 'string', spinMs: 100, hdr: 'std' },
    { t: 'cancel', target: { to: 'id', id: { k: 'int' } }, extra: false },
    { t: 'request', id: { k: 'str', p: '__proto__' }, method: 'constructor', params: '{}' },
    { t: 'notify', method: '$/weird', params: null },
    { t: 'status', id: { k: 'exact', text: '"__proto__"' }, params: false, hdr: 'ctBefore', pad: false },
  ], splits: [] },
  { items: [
    { t: 'truncated', prefix: 500, frames: 2, pad: 7, cut: 300, hdr: 'std' },
    { t: 'status', id: { k: 'int' }, params: true, hdr: 'lower', pad: true },
    { t: 'badHeader', which: 9, body: 'request' },
    { t: 'badHeader', which: 11, body: 'request' },
    { t: 'oversized' },
    { t: 'session', id: { k: 'str', p: 'id-' }, run: true, after: true },
    { t: 'exec', id: { k: 'int' }, snippet: 'spin', token: 'int', spinMs: 100, hdr: 'xBefore' },
    { t: 'cancel', target: { to: 'exec' }, extra: true },
    { t: 'envelope', jsonrpc: '"2.0"', id: { v: { k: 'int' } }, method: '5', params: null, extra: null },
    { t: 'envelope', jsonrpc: '"2.0"', id: { v: { k: 'int' } }, method: null, params: null, extra: '"result":{}' },
  ], splits: [17, 100, 5000] },
  { items: [
    { t: 'huge', shape: 'string', size: 3, method: 'broker/status' },
    { t: 'huge', shape: 'deepArray', size: 2, method: 'execute' },
    { t: 'huge', shape: 'deepParams', size: 4, method: 'no/such' },
    { t: 'huge', shape: 'wide', size: 4, method: 'session/close' },
    { t: 'huge', shape: 'longId', size: 4, method: 'broker/status' },
    { t: 'pollute', id: { k: 'int' }, method: 'execute', payload: 2, notification: false },
    { t: 'pollute', id: { k: 'int' }, method: 'broker/status', payload: 0, notification: true },
    { t: 'pollute', id: { k: 'int' }, method: 'session/close', payload: 9, notification: false },
    { t: 'exec', id: { k: 'old', n: 0 }, snippet: 'print', token: 'none', spinMs: 100, hdr: 'spaces' },
    { t: 'request', id: { k: 'int' }, method: 'exit', params: null },
    { t: 'notify', method: 'shutdown', params: null },
  ], splits: [3] },
];

// ---------------------------------------------------------------------------------------------------------

describe(`broker fuzz over real stdio (fast-check, seed ${SEED}, ${RUNS} runs)`, function () {
  this.timeout(20 * 60_000); // a passing run takes well under a minute; a failing one shrinks against the real broker
  const started = Date.now();

  before(async function () {
    this.timeout(30_000);
    assert.ok(Number.isSafeInteger(SEED), `PYCELL_FUZZ_SEED must be an integer, got ${process.env.PYCELL_FUZZ_SEED}`);
    broker = await Broker.start();
  });

  after(async () => {
    await broker?.stop();
    if (VERBOSE) console.log(`fuzz: ${JSON.stringify(stats)} in ${Date.now() - started} ms`);
  });

  it('never crashes, answers every parseable request exactly once, keeps serving, and writes only well-formed frames', async () => {
    await fc.assert(fc.asyncProperty(caseArb, runCase), {
      seed: SEED,
      numRuns: RUNS,
      examples: EXAMPLES.map((c) => [c] as [Case]),
      ...(process.env.PYCELL_FUZZ_PATH ? { path: process.env.PYCELL_FUZZ_PATH } : {}),
    });
  });

  it('afterwards: no late or extra answers, stdout ends on a frame boundary, and shutdown + exit end the broker with code 0', async () => {
    const b = broker!;
    assert.ok(b.alive, `the broker exited: ${JSON.stringify(b.exit)} ${b.stderr}`);
    const before = b.violations.length;
    const status = await send(b, '{"jsonrpc":"2.0","id":"final","method":"broker/status"}', 'final broker/status', statusCheck);
    await b.until(() => status.answered, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(b.violations.slice(before), []);
    assert.ok(status.answered);
    const outstanding = [...b.pending.values()].flat().map((e) => e.label);
    assert.deepEqual(outstanding, [], 'every expected answer arrived');
    assert.equal(b.leftover, 0, 'no partial frame on stdout');
    const shutdown = await send(b, '{"jsonrpc":"2.0","id":"bye","method":"shutdown"}', 'shutdown', (a) => ('result' in a && a.result === null ? undefined : JSON.stringify(a)));
    await b.until(() => shutdown.answered, 10_000);
    const exited = new Promise((resolve) => (b.alive ? b.child.once('exit', resolve) : resolve(undefined)));
    await b.write(frame('{"jsonrpc":"2.0","method":"exit"}'));
    await exited;
    assert.deepEqual(b.exit, { code: 0, signal: null });
    assert.deepEqual(b.violations.slice(before), []);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Bugs the fuzz found, kept as regression tests. Each states the contract; the property above generates
// these inputs too.
// ---------------------------------------------------------------------------------------------------------

/** A fresh broker, initialized, that records everything on stdout; brokers started together get their own sandbox uids. */
async function freshBroker(slot = 0): Promise<Broker> {
  return Broker.start(['--sandbox-uids', `${1_700_000_000 + slot * 4096}:4096`]);
}

describe('regressions the fuzz found', function () {
  this.timeout(60_000);

  it('A: a $/cancelRequest notification without a usable params.id must not crash the broker ("Faults never end the broker")', async () => {
    const brokers = await Promise.all(BAD_CANCELS.map((_, slot) => freshBroker(slot)));
    const crashed: string[] = [];
    await Promise.all(BAD_CANCELS.map(async (body, i) => {
      const b = brokers[i]!;
      await b.write(frame(body));
      const status = await send(b, '{"jsonrpc":"2.0","id":"after","method":"broker/status"}', 'broker/status after the cancel', statusCheck);
      await b.until(() => status.answered, 5000);
      if (!b.alive || !status.answered) crashed.push(`${short(body, 90)} → exit ${JSON.stringify(b.exit)}: ${/^\w*Error: .*$/m.exec(b.stderr)?.[0] ?? b.stderr.slice(0, 200)}`);
      await b.stop();
    }));
    assert.ok(crashed.length === 0, `the broker died on ${crashed.length} of ${BAD_CANCELS.length} notifications:\n${crashed.join('\n')}`);
  });

  it('B: two requests in flight with the same id, or with ids 1 and "1", get two answers ("Every request gets exactly one response")', async () => {
    const b = await freshBroker();
    try {
      const same = [b.expect('7', 'id 7', undefined), b.expect('7', 'id 7', undefined)];
      const twins = [b.expect('1', 'id 1', undefined), b.expect('"1"', 'id "1"', undefined)];
      await b.write(Buffer.concat([
        frame('{"jsonrpc":"2.0","id":7,"method":"broker/status"}'),
        frame('{"jsonrpc":"2.0","id":7,"method":"no/such"}'),
        frame('{"jsonrpc":"2.0","id":1,"method":"broker/status"}'),
        frame('{"jsonrpc":"2.0","id":"1","method":"no/such"}'),
      ]));
      await b.until(() => [...same, ...twins].every((e) => e.answered), 3000);
      assert.ok(b.alive);
      const answers = [...same, ...twins].filter((e) => e.answered).map((e) => short(JSON.stringify(e.answer), 120));
      const count = (list: Expectation[]): number => list.filter((e) => e.answered).length;
      assert.ok(count(same) === 2 && count(twins) === 2,
        `4 requests, ${answers.length} answers: id 7 (broker/status, then no/such) answered ${count(same)} time(s), ids 1 and "1" answered ${count(twins)} time(s) in all:\n${answers.join('\n')}`);
    } finally {
      await b.stop();
    }
  });
});
