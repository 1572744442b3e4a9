/** The one broker under soak: the client, plus what the soak must know beside it (exit, stderr, ids sent). */
import type { ChildProcess } from 'node:child_process';
import { spawnBroker, type BrokerClient, type StatusResult } from '../../src/client/index.js';
import { WireTap } from './wire.js';

export const CLOSE_TIMEOUT_MS = 30_000;

export class SoakBroker {
  readonly client: BrokerClient;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly tap = new WireTap();
  /** Requests sent by this client, initialize (id 0) included: the ids a response on the wire may carry. */
  sent = 1;
  exited = false;
  /** Exited before close() was called: a crash, and then nothing that follows can be trusted. */
  diedEarly = false;
  private closing = false;
  /** Kept to explain an early exit, which the client library only reports as a closed connection. */
  private readonly stderrTail: string[] = [];

  static async spawn(args: readonly string[], log: (line: string) => void): Promise<SoakBroker> {
    return new SoakBroker(await spawnBroker({ args, stderr: 'pipe' }), log);
  }

  private constructor(client: BrokerClient, log: (line: string) => void) {
    this.client = client;
    this.child = client.child!;
    this.pid = this.child.pid!;
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail.push(chunk.toString('utf8'));
      if (this.stderrTail.length > 50) this.stderrTail.shift();
    });
    this.child.once('exit', (code, signal) => {
      this.exited = true;
      if (!this.closing) {
        this.diedEarly = true;
        log(`!! the broker exited during the soak (code ${code}, signal ${signal}); its last logs:\n${this.stderrTail.join('').slice(-2000)}`);
      }
    });
    this.child.stdout!.on('data', (chunk: Buffer) => this.tap.push(chunk));
  }

  /** Every request goes through here, so that the wire audit knows which ids exist. */
  send<T>(call: (client: BrokerClient) => T): T {
    this.sent++;
    return call(this.client);
  }

  status(): Promise<StatusResult> {
    return this.send((client) => client.status());
  }

  /** shutdown/exit; SIGKILL (timedOut) when the broker is still there 30 s later. */
  async close(): Promise<{ exitCode: number | null; timedOut: boolean }> {
    this.closing = true;
    if (this.exited) {
      this.client.connection.dispose();
      return { exitCode: this.child.exitCode, timedOut: false };
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS)));
    const closed = await Promise.race([this.send((client) => client.close()), timeout]);
    clearTimeout(timer);
    if (closed !== 'timeout') return { exitCode: closed, timedOut: false };
    this.child.kill('SIGKILL');
    return { exitCode: null, timedOut: true };
  }
}
