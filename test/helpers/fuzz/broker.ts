/** A real `pycell serve --stdio` process: stdin as bytes, stdout cut into frames whose bodies go to its ledger. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Check, Id } from './contract.js';
import { CLI } from './env.js';
import { frame } from './frame.js';
import { keyOf, Ledger, type Expectation } from './ledger.js';
import { dump, short } from './show.js';

export class Broker {
  readonly child: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stderr = '';
  readonly ledger = new Ledger();
  frames = 0;
  stdoutBytes = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private desynced = false;
  private wake: (() => void)[] = [];
  /** Ids of earlier cases, all answered: a later case may reuse them. */
  pastIds: Id[] = [];

  constructor(extraArgs: string[] = []) {
    this.child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--pool-size', '1', '--log-level', 'silent', ...extraArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => undefined); // EPIPE after a crash is reported as the crash
    this.child.stdout!.on('data', (chunk: Buffer) => this.onStdout(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString('utf8')).slice(-8000)));
    this.child.once('exit', (code, signal) => {
      this.exit = { code, signal };
      this.notify();
    });
  }

  static async start(extraArgs: string[] = []): Promise<Broker> {
    const broker = new Broker(extraArgs);
    const init = broker.ledger.expect('"init"', 'initialize', (a) => ((a.result as { serverInfo?: { name?: string } } | undefined)?.serverInfo?.name === 'pycell' ? undefined : `initialize failed: ${short(JSON.stringify(a))}`));
    await broker.write(frame('{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"clientInfo":{"name":"fuzz"}}}'));
    await broker.until(() => init.answered, 20_000);
    assert.ok(init.answered, `the broker did not answer initialize: ${broker.stderr}`);
    assert.deepEqual(broker.ledger.violations, []);
    broker.pastIds = ['init'];
    return broker;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  async write(bytes: Buffer): Promise<void> {
    if (!this.alive) return;
    await new Promise<void>((resolve) => this.child.stdin!.write(bytes, () => resolve()));
  }

  /** Resolves when the predicate holds, the broker exits, stdout stops being frames, or the time is up. */
  async until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (!this.alive || this.desynced || Date.now() > deadline) return predicate();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(200, Math.max(1, deadline - Date.now())));
        this.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const fn of wake) fn();
  }

  /** Splits stdout into frames; anything that is not `Content-Length: N\r\n\r\n` + N bytes of JSON-RPC is a violation. */
  private onStdout(chunk: Buffer): void {
    this.stdoutBytes += chunk.length;
    if (this.desynced) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    let buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffer.length > 64) this.desync(`stdout: ${buffer.length} bytes without a header: ${dump(buffer.subarray(0, 120))}`);
        break;
      }
      const head = buffer.subarray(0, end).toString('latin1');
      const match = /^Content-Length: (\d+)$/.exec(head);
      if (!match) {
        this.desync(`stdout: not a Content-Length header: ${dump(buffer.subarray(0, Math.min(end + 4, 120)))}`);
        break;
      }
      const length = Number(match[1]);
      if (buffer.length < end + 4 + length) break;
      const body = buffer.subarray(end + 4, end + 4 + length);
      buffer = buffer.subarray(end + 4 + length);
      this.frames++;
      this.ledger.take(body);
    }
    this.chunks = buffer.length > 0 ? [Buffer.from(buffer)] : [];
    this.buffered = buffer.length;
    this.notify();
  }

  private desync(text: string): void {
    this.ledger.violation(text);
    this.desynced = true;
    this.chunks = [];
  }

  /** Bytes read from stdout that do not (yet) make a whole frame. */
  get leftover(): number {
    return this.buffered;
  }
}

/** Writes a request and registers the answer it must get. */
export async function send(target: Broker, body: string, label: string, check: Check): Promise<Expectation> {
  const id = JSON.parse(body).id as Id;
  const expectation = target.ledger.expect(keyOf(id), label, check);
  await target.write(frame(body));
  return expectation;
}

/** A fresh broker, initialized, that records everything on stdout; brokers started together get their own sandbox uids. */
export async function freshBroker(slot = 0): Promise<Broker> {
  return Broker.start(['--sandbox-uids', `${1_700_000_000 + slot * 4096}:4096`]);
}
