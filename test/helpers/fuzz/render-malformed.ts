/**
 * Bytes meant not to parse: bad JSON or UTF-8, random bodies, bad headers, junk, truncated and oversized frames. What is
 * not a well-framed body only bounds the -32700 answers it draws: junk before a header is answered at most once.
 */
import type { CaseBytes } from './case-bytes.js';
import { frame, header } from './frame.js';
import { BAD_HEADERS, BAD_JSON, BAD_UTF8, type Item } from './items.js';
import { MAX_MESSAGE_BYTES } from '../../../src/rpc/reader.js';

export type MalformedItem = Extract<Item, { t: 'badJson' | 'randomBody' | 'randomBytes' | 'badUtf8' | 'badHeader' | 'junk' | 'truncated' | 'oversized' }>;

let fill: Buffer | undefined;
/** Spaces: padding of truncated bodies, and the skipped body of an oversized frame (allocated once, when first needed). */
const FILL = (): Buffer => (fill ??= Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20));

export function renderMalformed(bytes: CaseBytes, item: MalformedItem): void {
  switch (item.t) {
    case 'badJson': {
      const request = `{"jsonrpc":"2.0","id":${bytes.freshId()},"method":"broker/status","params":{"x":"ü€😀"}}`;
      const cut = Math.floor((item.frac / 1000) * (request.length - 1));
      const body = item.which < BAD_JSON.length ? BAD_JSON[item.which]!
        : item.which === BAD_JSON.length ? request.slice(0, cut) // a truncated request
          : item.which === BAD_JSON.length + 1 ? `${request}x` : item.which === BAD_JSON.length + 2 ? `${request}${request}` : `${request}}`;
      bytes.framed(body, 'bad JSON');
      return;
    }
    case 'randomBody': bytes.framed(item.text, 'random text body'); return;
    case 'randomBytes': bytes.framed(Buffer.from(item.bytes), 'random bytes body'); return;
    case 'badUtf8': {
      const bad = Buffer.from(BAD_UTF8[item.which]!);
      const [before, after] = [`{"jsonrpc":"2.0","id":${bytes.freshId()},"method":"broker/status","params":{"x":"a`, 'b"}}'];
      const body = item.where === 'string' ? Buffer.concat([Buffer.from(before), bad, Buffer.from(after)])
        : item.where === 'start' ? Buffer.concat([bad, Buffer.from(before + after)]) : Buffer.concat([Buffer.from(before + after), bad]);
      bytes.framed(body, 'invalid UTF-8');
      return;
    }
    case 'badHeader': {
      const body = item.body === 'request' ? bytes.swallowed() : item.body === 'junk' ? 'junk after a bad header' : '';
      // One -32700 for the header; the body behind it is junk before the next header (answered at most once).
      bytes.push(`${BAD_HEADERS[item.which]!}\r\n\r\n${body}`, [1, body === '' ? 1 : 2]);
      return;
    }
    case 'junk': {
      let text = Buffer.from(item.bytes).toString('latin1');
      if (item.big) text = text.repeat(Math.ceil(12_000 / text.length));
      text = text.replace(/content-length/gi, 'content_length');
      while (text.includes('\r\n\r\n')) text = text.replaceAll('\r\n\r\n', '\r\n');
      // Bytes before a header are skipped and answered -32700 (at most once); a blank line ends a header block without Content-Length: -32700.
      bytes.push(item.blank ? `${text}\r\n\r\n` : text, item.blank ? [1, 2] : [0, 1]);
      return;
    }
    case 'truncated': {
      // Content-Length N, then fewer bytes than N: the valid frames that follow are read as the rest of the body.
      const request = bytes.swallowed('execute');
      const prefix = request.slice(0, Math.floor((item.prefix / 1000) * (request.length - 1)));
      const frames = Array.from({ length: item.frames }, () => frame(bytes.swallowed()));
      const next = frame(bytes.swallowed());
      const cut = 1 + Math.floor((item.cut / 1000) * (next.length - 2));
      const swallowed = Buffer.concat([Buffer.from(prefix), ...frames, FILL().subarray(0, item.pad), next.subarray(0, cut)]);
      bytes.push(Buffer.concat([Buffer.from(header(item.hdr, swallowed.length), 'latin1'), swallowed]), [1, 1]);
      // The rest of the frame cut in two is junk (answered at most once).
      bytes.push(next.subarray(cut), [0, 1]);
      return;
    }
    case 'oversized': {
      // Declared past the limit: skipped without buffering, even when what it covers looks like a valid frame.
      const inside = frame(bytes.swallowed());
      bytes.push(`Content-Length: ${MAX_MESSAGE_BYTES + 1}\r\n\r\n`, [1, 1]);
      bytes.push(inside);
      bytes.push(FILL().subarray(inside.length));
      return;
    }
  }
}
