/**
 * Starting and stopping `pycell serve` for the bench. A broker that will not start (say, a flag this
 * build does not know yet) is asked once more, with its stderr kept, so the row can say why.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { spawnBroker, type BrokerClient } from '../src/client/index.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

export async function startBroker(args: readonly string[]): Promise<BrokerClient> {
  const argv = ['--log-level', 'silent', ...args];
  try {
    const broker = await spawnBroker({ args: argv });
    if (broker.child?.pid === undefined) throw new Error('spawnBroker gave no child pid');
    return broker;
  } catch (error) {
    throw new Error((await whyServeFails(argv)) ?? (error instanceof Error ? error.message : String(error)));
  }
}

/** Runs `pycell serve` with no input: it exits at once, and its stderr says what was wrong, if anything. */
function whyServeFails(argv: readonly string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, 'serve', '--stdio', ...argv], { timeout: 10_000 }, (_error, _stdout, stderr) => {
      const text = stderr.trim();
      resolve(text === '' ? undefined : text.split('\n')[0]);
    });
    child.stdin?.end();
  });
}

/** shutdown and exit, and kill the broker if it has not gone within 10 s. */
export async function closeBroker(broker: BrokerClient): Promise<void> {
  const child = broker.child!;
  const exited = child.exitCode === null && child.signalCode === null ? once(child, 'exit') : Promise.resolve();
  const closed = broker.close().catch(() => null);
  if ((await Promise.race([closed.then(() => true), sleep(10_000, false)])) === false) child.kill('SIGKILL');
  await exited;
}
