/** fast-check generators of items and of whole cases (kept small: few sandboxed runs, one session, one oversized frame). */
import fc from 'fast-check';
import { REQUEST_METHODS } from './contract.js';
import { KNOWN_BUGS, KNOWN_DUPLICATES, MiB } from './env.js';
import { HEADER_STYLES } from './frame.js';
import {
  BAD_CANCELS, BAD_HEADERS, BAD_JSON, BAD_PARAMS, BAD_UTF8, NOTIFY_METHODS, POLLUTE_METHODS, POLLUTION, WEIRD_METHODS,
  type CancelTarget, type EnvelopeId, type HugeShape, type IdSpec, type Item,
} from './items.js';

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

export const itemArb: fc.Arbitrary<Item> = fc.oneof(
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
export const caseArb = fc.record({
  items: fc.array(itemArb, { minLength: 1, maxLength: 14 }).filter((items) =>
    count(items, (i) => i.t === 'exec' || (i.t === 'huge' && i.shape === 'bigCode')) <= 3
    && count(items, (i) => i.t === 'session') <= 1
    && count(items, (i) => i.t === 'oversized') <= 1),
  splits: fc.array(fc.nat(), { maxLength: 5 }),
});
