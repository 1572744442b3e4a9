/** Text for failure messages: long values cut short, bytes shown exactly. */

export const short = (text: string, max = 160): string => (text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text);

/** Printable ASCII as is, everything else escaped: the exact bytes, for a failure message. */
export function dump(bytes: Buffer, max = 400): string {
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
