import type { CancellationToken, MessageConnection } from 'vscode-jsonrpc';
import { VERSION, type Broker } from '../broker.js';
import { BrokerError, ErrorCode, toResponseError } from '../errors.js';
import { resolveLimits } from '../limits.js';
import type { Logger } from '../log.js';
import type { InitializeResult } from '../protocol/lifecycle.js';
import type { Limits } from '../protocol/limits.js';
import { BrokerStatus, Execute, ExecuteDisplay, ExecuteOutput, Exit, Initialize, InputRequest, SessionClose, SessionComplete, SessionOpen, SessionRestart, Shutdown } from '../protocol/methods.js';
import { inputRequestResultSchema, type InputRequestParams } from '../protocol/session.js';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import { toAbortSignal } from './cancellation.js';
import { parseParams } from './validate.js';
import { executionRecord } from './execlog.js';

type Phase = 'uninitialized' | 'running' | 'shutdown';
type Handler = (params: unknown, token: CancellationToken) => Promise<unknown>;

/**
 * Wires the broker's operations to a connection. Knows nothing of bytes or stdio: tests hand it an
 * in-memory connection. Every request gets exactly one answer; nothing thrown escapes as anything but
 * a JSON-RPC error.
 */
export function serve(connection: MessageConnection, broker: Broker, log: Logger, onExit: (code: number) => void): void {
  let phase: Phase = 'uninitialized';
  let defaults: Limits = broker.config.limits.defaults;
  let interactiveInput = false;
  let clientName: string | undefined;
  let executions = 0;
  let exiting = false;
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();

  /** Every request in flight is answered (runs end "cancelled") and written before the process may end. */
  const exit = async (): Promise<void> => {
    if (exiting) return;
    exiting = true;
    await broker.close();
    await Promise.allSettled([...inFlight]);
    // vscode-jsonrpc writes each message from setImmediate: let the last answers reach the stream.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    onExit(phase === 'shutdown' ? 0 : 1);
  };

  /** A notification to a client that is gone (EPIPE, stdin closed) is dropped; it must never end the broker. */
  /**
   * Notification bytes handed to the writer and not yet written: vscode-jsonrpc queues each message until the
   * one before it is written, so a client that stops reading grows this queue. Past the operator's
   * maxClientBacklogBytes, output notifications are dropped until the client catches up; results never are
   * (they carry the run's whole output anyway).
   */
  let backlog = 0;
  let dropping = false;
  const notify = (method: string, params: unknown, size: number): void => {
    if (closed) return;
    if (backlog + size > broker.config.maxClientBacklogBytes) {
      if (!dropping) log.warn({ backlog }, 'client is not reading: dropping output notifications until it catches up');
      dropping = true;
      return;
    }
    dropping = false;
    backlog += size;
    try {
      connection.sendNotification(method, params).catch(() => undefined).finally(() => (backlog -= size));
    } catch {
      backlog -= size; // the connection closed between the check and the send
    }
  };

  const handlers = new Map<string, Handler>([
    [Initialize.method, async (raw) => {
      if (phase !== 'uninitialized') throw new BrokerError(ErrorCode.InvalidRequest, 'initialize was already received');
      const params = parseParams(Initialize.params, raw ?? {});
      defaults = resolveLimits(params.limits, broker.config.limits.defaults, broker.config.limits.maximums, 'params.limits');
      phase = 'running';
      interactiveInput = params.capabilities?.interactiveInput === true;
      clientName = params.clientInfo?.name;
      log.info({ client: params.clientInfo, defaults }, 'initialized');
      const result: InitializeResult = {
        serverInfo: { name: 'pycell', version: VERSION },
        capabilities: {
          isolation: broker.isolation,
          python: broker.python,
          limits: { defaults, maximums: broker.config.limits.maximums },
          sessions: { maxSessions: broker.config.maxSessions, idleTimeoutMs: broker.config.sessionIdleMs, interruptGraceMs: broker.config.interruptGraceMs },
        },
      };
      return result;
    }],
    [Shutdown.method, async (raw) => {
      parseParams(Shutdown.params, raw);
      phase = 'shutdown';
      await broker.close();
      return null;
    }],
    [Execute.method, async (raw, token) => {
      const context = { seq: ++executions, client: clientName, limits: undefined as Limits | undefined, startedAt: performance.now() };
      let params;
      try {
        params = parseParams(Execute.params, raw);
      } catch (error) {
        log.info({ event: 'execution', seq: context.seq, client: clientName ?? null, status: 'refused', error: (error as Error).message.slice(0, 500) }, 'execution');
        throw error;
      }
      const token_ = params.outputToken;
      const signal = toAbortSignal(token);
      const logged = params;
      return broker.execute(params, defaults, {
        signal,
        onStart: (limits) => (context.limits = limits),
        ...(token_ === undefined ? {} : {
          onOutput: (stream, text) => notify(ExecuteOutput.method, { token: token_, stream, text }, text.length + 80),
          onDisplay: (data) => notify(ExecuteDisplay.method, { token: token_, data }, Object.values(data).reduce((n, v) => n + v.length, 80)),
          ...(interactiveInput ? { onInput: (request: { prompt: string; password: boolean }, ended: AbortSignal) => askInput({ token: token_, ...request }, ended) } : {}),
        }),
      }).then(
        (result) => {
          if (log.isLevelEnabled('info')) log.info(executionRecord(logged, context, { result }, performance.now()), 'execution');
          return result;
        },
        (error: unknown) => {
          const { code, message } = toResponseError(error);
          if (log.isLevelEnabled('info')) log.info(executionRecord(logged, context, { error: { code, message } }, performance.now()), 'execution');
          throw error;
        },
      );
    }],
    [BrokerStatus.method, async (raw) => {
      parseParams(BrokerStatus.params, raw);
      return broker.status();
    }],
    [SessionOpen.method, async (raw) => {
      const params = parseParams(SessionOpen.params, raw ?? {});
      return { session: await broker.openSession(params.limits, defaults) };
    }],
    [SessionRestart.method, async (raw) => {
      await broker.restartSession(parseParams(SessionRestart.params, raw).session);
      return null;
    }],
    [SessionClose.method, async (raw) => {
      await broker.closeSession(parseParams(SessionClose.params, raw).session);
      return null;
    }],
    [SessionComplete.method, async (raw) => broker.complete(parseParams(SessionComplete.params, raw))],
  ]);

  /** input() in a run: ask the client; a failed or malformed answer, or the run ending, is end of input (null). */
  const askInput = async (params: InputRequestParams, ended: AbortSignal): Promise<string | null> => {
    if (closed) return null;
    const source = new CancellationTokenSource();
    const onEnded = (): void => source.cancel();
    ended.addEventListener('abort', onEnded, { once: true });
    try {
      const answer = inputRequestResultSchema.safeParse(await connection.sendRequest(InputRequest.method, params, source.token));
      if (!answer.success) log.warn({ issue: answer.error.issues[0]?.message }, 'client answered input/request with an invalid result');
      return answer.success ? answer.data.value : null;
    } catch {
      return null;
    } finally {
      ended.removeEventListener('abort', onEnded);
      source.dispose();
    }
  };

  connection.onRequest((method: string, raw: unknown, token: CancellationToken) => {
    const answer = respond(method, raw, token);
    inFlight.add(answer);
    void answer.finally(() => inFlight.delete(answer));
    return answer;
  });

  const respond = async (method: string, raw: unknown, token: CancellationToken): Promise<unknown> => {
    try {
      const name = method.slice(0, 100);
      if (phase === 'uninitialized' && method !== Initialize.method) throw new BrokerError(ErrorCode.NotInitialized, `${name} before initialize`);
      if (phase === 'shutdown') throw new BrokerError(ErrorCode.ShuttingDown, `${name} after shutdown`);
      const handler = handlers.get(method);
      if (!handler) throw new BrokerError(ErrorCode.MethodNotFound, `unknown method: ${name}`);
      return await handler(raw, token);
    } catch (error) {
      if (!(error instanceof BrokerError)) log.error({ err: error, method }, 'request failed');
      return toResponseError(error);
    }
  };

  connection.onNotification((method: string) => {
    if (method === Exit.method) void exit();
  });
  connection.onClose(() => {
    closed = true;
    void exit();
  });
  connection.onError(([error]) => log.warn({ err: error }, 'connection error'));
}
