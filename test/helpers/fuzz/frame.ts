/** Framing a body for the broker's stdin: LSP's header, with the variations the contract allows. */

export const HEADER_STYLES = ['std', 'std', 'std', 'lower', 'upper', 'nospace', 'spaces', 'ctBefore', 'ctAfter', 'xBefore'] as const;
export type HeaderStyle = (typeof HEADER_STYLES)[number];

/** Valid framings of a body of n bytes. */
export function header(style: HeaderStyle, n: number): string {
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

export const frame = (body: string | Buffer, style: HeaderStyle = 'std'): Buffer => {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([Buffer.from(header(style, bytes.length), 'latin1'), bytes]);
};
