/** Hand-written cases run first (fast-check `examples`): every kind of item at least once, whatever the seed. */
import { BAD_JSON, type Case } from './items.js';

export const EXAMPLES: Case[] = [
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
