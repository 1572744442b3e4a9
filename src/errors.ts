import { ResponseError, ErrorCodes } from 'vscode-jsonrpc';

/** Every code the broker answers with. JSON-RPC's own, then pycell's range -32050..-32001. */
export const ErrorCode = {
  ParseError: ErrorCodes.ParseError,
  InvalidRequest: ErrorCodes.InvalidRequest,
  MethodNotFound: ErrorCodes.MethodNotFound,
  InvalidParams: ErrorCodes.InvalidParams,
  InternalError: ErrorCodes.InternalError,
  Busy: -32001,
  NotInitialized: -32002,
  ShuttingDown: -32003,
  SandboxUnavailable: -32010,
  UnknownSession: -32011,
  SessionLimit: -32012,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What each code means, for protocol/errors.json and the human contract. */
export const errorDescriptions: Record<keyof typeof ErrorCode, string> = {
  ParseError: 'The frame was not valid JSON, or its header was malformed (bad or missing Content-Length, body too large).',
  InvalidRequest: 'Valid JSON, but not a JSON-RPC 2.0 request or notification (batches included).',
  MethodNotFound: 'No such method. Names are matched exactly; nothing inherited (constructor, __proto__) is a method.',
  InvalidParams: 'A parameter is missing, of the wrong type or out of range. data.field names it, data.value is what was received.',
  InternalError: 'A bug in the broker. The broker keeps serving; data.message says what failed.',
  Busy: 'The execute queue is full. Retry later; nothing was run.',
  NotInitialized: 'A request arrived before initialize.',
  ShuttingDown: 'A request arrived after shutdown.',
  SandboxUnavailable: 'Sandboxes cannot be started on this host right now. data.reason carries the real cause (for example bubblewrap\'s own error text).',
  UnknownSession: 'No open session has that id (never opened, closed, or closed for idleness: data.reason says which).',
  SessionLimit: 'The operator\'s cap on open sessions is reached.',
};

export interface ErrorData {
  field?: string;
  value?: unknown;
  reason?: string;
  [key: string]: unknown;
}

/** The one error class the broker throws on purpose. */
export class BrokerError extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
    readonly data?: ErrorData,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BrokerError';
  }
}

export function invalidParams(field: string, value: unknown, why: string): BrokerError {
  return new BrokerError(ErrorCode.InvalidParams, `${field}: ${why} (received ${preview(value)})`, { field, value: clip(value) });
}

/** The only place where an arbitrary throwable becomes a response error. */
export function toResponseError(error: unknown): ResponseError<ErrorData | undefined> {
  if (error instanceof BrokerError) return new ResponseError(error.code, error.message, error.data);
  if (error instanceof ResponseError) return error as ResponseError<ErrorData | undefined>;
  const message = error instanceof Error ? error.message : String(error);
  return new ResponseError(ErrorCode.InternalError, `internal error: ${message}`, { message });
}

/** A short rendering of a received value for error messages; never the whole of a huge input. */
export function preview(value: unknown): string {
  let text: string;
  if (typeof value === 'number' && !Number.isFinite(value)) text = String(value);
  else if (value === undefined) text = 'undefined';
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function clip(value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'string') return value.length > 200 ? value.slice(0, 200) : value;
  if (value === null || typeof value !== 'object') return value;
  return preview(value);
}
