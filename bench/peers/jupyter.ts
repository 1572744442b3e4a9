/**
 * A real Jupyter kernel's execute round trip via jupyter_client (jupyter_driver.py times each one from
 * its own client, including every output message). Skipped with a note when the host's python3 lacks
 * jupyter_client or ipykernel (Debian: python3-jupyter-client python3-ipykernel).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pacedSnippets } from '../measure.js';
import { check, type Plan, type Seen } from '../plan.js';
import type { PathResult } from '../results.js';
import { PYTHON } from './cold.js';

// Run from dist/bench/peers/: the driver stays beside this file's source.
const DRIVER = fileURLToPath(new URL('../../../bench/peers/jupyter_driver.py', import.meta.url));
const LABEL = 'Jupyter: ipykernel execute via jupyter_client, no sandbox';

type Answer = Seen & { ms: number; status: string } & { ready?: boolean; kernelPid?: number; hwmMb?: number; rssMb?: number; pssMb?: number };

/** Only if the driver could not shut its kernel down: the pid must still be an ipykernel. */
function killIfKernel(pid: number): void {
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('ipykernel')) process.kill(pid, 'SIGKILL');
  } catch {
    // gone, as it should be
  }
}

export async function jupyterMissing(): Promise<string | undefined> {
  try {
    await promisify(execFile)(PYTHON, ['-c', 'import jupyter_client, ipykernel']);
    return undefined;
  } catch {
    return `${PYTHON} cannot import jupyter_client and ipykernel (Debian: apt-get install python3-jupyter-client python3-ipykernel)`;
  }
}

export async function measureJupyter(plan: Plan): Promise<PathResult> {
  const missing = await jupyterMissing();
  if (missing) return { name: 'jupyter', label: LABEL, skipped: missing };
  const driver = spawn(PYTHON, [DRIVER], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  driver.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const waiting: { resolve: (answer: Answer) => void; reject: (error: Error) => void }[] = [];
  createInterface({ input: driver.stdout }).on('line', (line) => waiting.shift()?.resolve(JSON.parse(line) as Answer));
  driver.once('exit', (code) => {
    for (const waiter of waiting.splice(0)) waiter.reject(new Error(`jupyter driver exited (${code}): ${stderr.trim().split('\n').slice(-3).join(' ')}`));
  });
  const next = (): Promise<Answer> => new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  const ask = (request: object): Promise<Answer> => {
    const answer = next();
    driver.stdin.write(`${JSON.stringify(request)}\n`);
    return answer;
  };
  let kernelPid: number | undefined;
  try {
    kernelPid = (await next()).kernelPid;
    const latency = await pacedSnippets(plan, 'fast', 'jupyter', (snippet) => async () => {
      const answer = await ask({ code: snippet.code });
      if (answer.status !== 'ok') throw new Error(`jupyter: ${snippet.label} status ${answer.status}`);
      check(snippet, { ...answer, value: answer.value ?? undefined }, 'jupyter');
      return answer.ms;
    });
    const memory = await ask({ op: 'memory' });
    return { name: 'jupyter', label: LABEL, periodMs: plan.fastPeriodMs, latency, memory: { serverPeakMb: memory.hwmMb }, notes: [`kernel idle: VmRSS ${memory.rssMb?.toFixed(1)} MB, Pss ${memory.pssMb?.toFixed(1)} MB`] };
  } finally {
    driver.stdin.end(); // the driver shuts its kernel down on end of input
    const exited = once(driver, 'exit');
    if (driver.exitCode === null && (await Promise.race([exited.then(() => true), sleep(10_000, false)])) === false) driver.kill('SIGKILL');
    if (kernelPid !== undefined) killIfKernel(kernelPid);
  }
}
