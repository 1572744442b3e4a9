import type { CancellationToken } from 'vscode-jsonrpc';

/** A request's cancellation token as the AbortSignal every long operation below takes. */
export function toAbortSignal(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}
