import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CancellationTokenSource, createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';
import type { DisplayParams, ExecuteParams, ExecuteResult, MimeBundle, OutputParams } from '../protocol/execute.js';
import type { InitializeParams, InitializeResult, StatusResult } from '../protocol/lifecycle.js';
import { BrokerStatus, Execute, ExecuteDisplay, ExecuteOutput, Exit, Initialize, Shutdown } from '../protocol/methods.js';

export type { ExecuteParams, ExecuteResult, InitializeResult, StatusResult, MimeBundle };
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
}

let nextToken = 1;

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
  }

  /** Runs code; with onOutput/onDisplay an outputToken is made and output streams while it runs. */
  async execute(params: ExecuteParams, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    const wantsStream = options.onOutput !== undefined || options.onDisplay !== undefined;
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

/** Starts `pycell serve --stdio` as a child process and initializes it. */
export async function spawnBroker(options: SpawnBrokerOptions = {}): Promise<BrokerClient> {
  const child = spawn(process.execPath, [CLI, 'serve', '--stdio', ...(options.args ?? [])], {
    stdio: ['pipe', 'pipe', options.stderr ?? 'ignore'],
    env: options.env ?? process.env,
  });
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  const failed = new Promise<never>((_, reject) => {
    child.once('exit', (code) => reject(new Error(`pycell serve exited with code ${code} before initialize answered`)));
    child.once('error', reject);
  });
  const result = await Promise.race([connection.sendRequest<InitializeResult>(Initialize.method, options.initialize ?? { clientInfo: { name: 'pycell-client' } }), failed]);
  return new BrokerClient(connection, result, child);
}
