import { z } from 'zod';
import { executeParamsSchema, executeResultSchema, outputParamsSchema, displayParamsSchema } from './execute.js';
import { emptyParamsSchema, initializeParamsSchema, initializeResultSchema, statusResultSchema } from './lifecycle.js';
import { completeResultSchema, inputRequestParamsSchema, inputRequestResultSchema, sessionCompleteParamsSchema, sessionOpenParamsSchema, sessionOpenResultSchema, sessionRefParamsSchema } from './session.js';

/** One wire method: its name, the schema of its params and of its result. Nobody types the name twice. */
export interface Method<P extends z.ZodType, R extends z.ZodType> {
  readonly method: string;
  readonly kind: 'request' | 'notification';
  readonly direction: 'client→broker' | 'broker→client';
  readonly params: P;
  readonly result: R;
  readonly summary: string;
}

function request<P extends z.ZodType, R extends z.ZodType>(method: string, params: P, result: R, summary: string, direction: Method<P, R>['direction'] = 'client→broker'): Method<P, R> {
  return { method, kind: 'request', direction, params, result, summary };
}
function notification<P extends z.ZodType>(method: string, params: P, summary: string, direction: Method<P, z.ZodNull>['direction']): Method<P, z.ZodNull> {
  return { method, kind: 'notification', direction, params, result: z.null(), summary };
}

export const Initialize = request('initialize', initializeParamsSchema, initializeResultSchema, 'Starts the connection: per-connection default limits in, the isolation the host actually gave out.');
export const Shutdown = request('shutdown', emptyParamsSchema, z.null(), 'Stops accepting work; answers once every sandbox is gone.');
export const Exit = notification('exit', emptyParamsSchema, 'Ends the process: code 0 after shutdown, 1 without.', 'client→broker');
export const Execute = request('execute', executeParamsSchema, executeResultSchema, 'Runs code in a fresh sandboxed process (or in a session) and answers with its result.');
export const ExecuteOutput = notification('execute/output', outputParamsSchema, 'Output of a running execute that carried outputToken, in order.', 'broker→client');
export const ExecuteDisplay = notification('execute/display', displayParamsSchema, 'A display(obj) call in a running execute that carried outputToken.', 'broker→client');
export const BrokerStatus = request('broker/status', emptyParamsSchema, statusResultSchema, 'Pool, queue and counters.');
export const SessionOpen = request('session/open', sessionOpenParamsSchema, sessionOpenResultSchema, 'Opens a persistent session: a dedicated sandbox whose namespace lives across executes.');
export const SessionRestart = request('session/restart', sessionRefParamsSchema, z.null(), 'Replaces a session\'s worker with a fresh one (empty state); answers once it is ready.');
export const SessionClose = request('session/close', sessionRefParamsSchema, z.null(), 'Closes a session and stops its sandbox.');
export const SessionComplete = request('session/complete', sessionCompleteParamsSchema, completeResultSchema, 'Completion candidates at a cursor, from the session\'s live namespace.');
export const InputRequest = request('input/request', inputRequestParamsSchema, inputRequestResultSchema, 'input() or getpass() in a run whose client declared interactiveInput; the run waits for the answer.', 'broker→client');

export const allMethods = [Initialize, Shutdown, Exit, Execute, ExecuteOutput, ExecuteDisplay, BrokerStatus, SessionOpen, SessionRestart, SessionClose, SessionComplete, InputRequest] as const;
