import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CancellationTokenSource, createMessageConnection, ResponseError, StreamMessageReader, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { FramedMessageWriter } from '../rpc/writer.js';
import type { DisplayParams, ExecuteParams, ExecuteResult, MimeBundle, OutputParams } from '../protocol/execute.js';
import type { InitializeParams, InitializeResult, StatusResult } from '../protocol/lifecycle.js';
import { BrokerStatus, Execute, ExecuteDisplay, ExecuteOutput, Exit, Initialize, InputRequest, SessionClose, SessionComplete, SessionOpen, SessionRestart, Shutdown } from '../protocol/methods.js';
import type { CompleteResult, InputRequestParams, InputRequestResult } from '../protocol/session.js';
import type { Limits } from '../protocol/limits.js';

export type { ExecuteParams, ExecuteResult, InitializeResult, StatusResult, MimeBundle, CompleteResult };
export type { Limits } from '../protocol/limits.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

export interface SpawnBrokerOptions {
  /** Operator flags for `pycell serve`, e.g. ['--pool-size', '2']. */
  readonly args?: readonly string[];
  /** The broker's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** What to do with the broker's logs (stderr). Default: ignore. */
  readonly stderr?: 'inherit' | 'pipe' | 'ignore';
  readonly initialize?: InitializeParams;
}

export interface ExecuteOptions {
  readonly signal?: AbortSignal;
  readonly onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
  readonly onDisplay?: (data: MimeBundle) => void;
  /**
   * Answers input() and getpass() in the code (the client must have declared
   * capabilities.interactiveInput at initialize); return null for end of input (EOFError).
   */
  readonly onInput?: (request: { prompt: string; password: boolean }) => string | null | Promise<string | null>;
}

let nextToken = 1;
/** LSP's RequestCancelled: how this client says "no input" (the broker treats any error as end of input). */
const REQUEST_CANCELLED = -32800;

/** A typed client of one `pycell serve` process. */
export class BrokerClient {
  private readonly streams = new Map<string | number, ExecuteOptions>();

  constructor(
    readonly connection: MessageConnection,
    readonly initializeResult: InitializeResult,
    readonly child?: ChildProcess,
  ) {
    connection.onNotification(ExecuteOutput.method, (params: OutputParams) => this.streams.get(params.token)?.onOutput?.(params.stream, params.text));
    connection.onNotification(ExecuteDisplay.method, (params: DisplayParams) => this.streams.get(params.token)?.onDisplay?.(params.data));
    connection.onRequest(InputRequest.method, async (params: InputRequestParams): Promise<InputRequestResult> => {
      const onInput = this.streams.get(params.token)?.onInput;
      const value = onInput ? await onInput({ prompt: params.prompt, password: params.password }) : null;
      if (value === null) throw new ResponseError(REQUEST_CANCELLED, 'end of input'); // any error answer means EOFError
      return { value };
    });
  }

  /** Opens a session: a sandbox of its own whose namespace persists across execute({ session }). */
  async openSession(limits?: Partial<Limits>): Promise<ClientSession> {
    const { session } = await this.connection.sendRequest<{ session: string }>(SessionOpen.method, limits ? { limits } : {});
    return new ClientSession(this, session);
  }

  /** Runs code; with onOutput/onDisplay an outputToken is made and output streams while it runs. */
  async execute(params: ExecuteParams, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    const wantsStream = options.onOutput !== undefined || options.onDisplay !== undefined || options.onInput !== undefined;
    const token = params.outputToken ?? (wantsStream ? `t${nextToken++}` : undefined);
    if (token !== undefined) this.streams.set(token, options);
    const source = new CancellationTokenSource();
    const onAbort = (): void => source.cancel();
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.connection.sendRequest<ExecuteResult>(Execute.method, token === undefined ? params : { ...params, outputToken: token }, source.token);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      source.dispose();
      if (token !== undefined) this.streams.delete(token);
    }
  }

  status(): Promise<StatusResult> {
    return this.connection.sendRequest<StatusResult>(BrokerStatus.method);
  }

  /** shutdown, then exit; resolves with the broker's exit code once the process is gone. */
  async close(): Promise<number | null> {
    const exited = this.child && this.child.exitCode === null ? new Promise<number | null>((resolve) => this.child!.once('exit', (code) => resolve(code))) : Promise.resolve(this.child?.exitCode ?? null);
    try {
      await this.connection.sendRequest(Shutdown.method);
      await this.connection.sendNotification(Exit.method);
    } catch {
      // already gone
    }
    const code = await exited;
    this.connection.dispose();
    return code;
  }
}

/** A session seen from the client: executes run in order in one persistent namespace. */
export class ClientSession {
  constructor(private readonly client: BrokerClient, readonly id: string) {}

  execute(code: string, options: ExecuteOptions & Omit<ExecuteParams, 'code' | 'session'> = {}): Promise<ExecuteResult> {
    const { signal, onOutput, onDisplay, onInput, ...params } = options;
    return this.client.execute({ ...params, code, session: this.id }, { signal, onOutput, onDisplay, onInput });
  }

  complete(code: string, cursor = [...code].length): Promise<CompleteResult> {
    return this.client.connection.sendRequest<CompleteResult>(SessionComplete.method, { session: this.id, code, cursor });
  }

  async restart(): Promise<void> {
    await this.client.connection.sendRequest(SessionRestart.method, { session: this.id });
  }

  async close(): Promise<void> {
    await this.client.connection.sendRequest(SessionClose.method, { session: this.id });
  }
}

/** Starts `pycell serve --stdio` as a child process and initializes it. */
export async function spawnBroker(options: SpawnBrokerOptions = {}): Promise<BrokerClient> {
  const child = spawn(process.execPath, [CLI, 'serve', '--stdio', ...(options.args ?? [])], {
    stdio: ['pipe', 'pipe', options.stderr ?? 'ignore'],
    env: options.env ?? process.env,
  });
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new FramedMessageWriter(child.stdin!));
  connection.listen();
  const failed = new Promise<never>((_, reject) => {
    child.once('exit', (code) => reject(new Error(`pycell serve exited with code ${code} before initialize answered`)));
    child.once('error', reject);
  });
  const result = await Promise.race([connection.sendRequest<InitializeResult>(Initialize.method, options.initialize ?? { clientInfo: { name: 'pycell-client' } }), failed]);
  return new BrokerClient(connection, result, child);
}
