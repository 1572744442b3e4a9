/**
 * print(1+1) through `pycell serve` (real stdio, the client library): median and p99 one at a time,
 * runs/s with requests in flight, for stateless executes and for session executes; beside them, in the
 * same run, the floor (a warm Python over pipes, bench/floor.ts) and the cold model (one
 * `bwrap … python3 -c` per snippet, as snekbox does). Ratios only mean something within one run.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { spawnBroker } from '../src/client/index.js';
import { startFloor } from './floor.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const N = Number(args[0] ?? 200);

function stats(samples: number[]): { median: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p99: at(0.99) };
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function pycell(): Promise<{ median: number; p99: number; runsPerSecond: number }> {
  const broker = await spawnBroker({ args: ['--log-level', 'silent'] });
  for (let i = 0; i < 20; i++) await broker.execute({ code: 'print(1+1)' });
  const latencies: number[] = [];
  for (let i = 0; i < N; i++) {
    await sleep(25); // idle gaps as a person makes, and time for the pool to refill
    const start = performance.now();
    const result = await broker.execute({ code: 'print(1+1)' });
    latencies.push(performance.now() - start);
    if (result.stdout !== '2\n') throw new Error(`unexpected result ${JSON.stringify(result)}`);
  }
  const seconds = 5;
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (performance.now() < until) {
      await broker.execute({ code: 'print(1+1)' });
      done++;
    }
  }));
  await broker.close();
  return { ...stats(latencies), runsPerSecond: done / seconds };
}

async function coldBwrap(): Promise<{ median: number; p99: number }> {
  const argv = ['--unshare-all', '--die-with-parent', '--new-session', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64',
    '--symlink', 'usr/bin', '/bin', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--clearenv', '/usr/bin/python3', '-I', '-S', '-c', 'print(1+1)'];
  const latencies: number[] = [];
  for (let i = 0; i < Math.min(N, 100); i++) {
    const start = performance.now();
    const { stdout } = await run('bwrap', argv);
    latencies.push(performance.now() - start);
    if (stdout !== '2\n') throw new Error(`unexpected ${stdout}`);
  }
  return stats(latencies);
}

async function floor(): Promise<{ median: number; p99: number }> {
  const warm = startFloor();
  for (let i = 0; i < 50; i++) await warm.run('print(1+1)');
  const latencies: number[] = [];
  for (let i = 0; i < N; i++) {
    await sleep(5);
    const start = performance.now();
    const stdout = await warm.run('print(1+1)');
    latencies.push(performance.now() - start);
    if (stdout !== '2\n') throw new Error(`unexpected ${stdout}`);
  }
  warm.close();
  return stats(latencies);
}

async function sessions(): Promise<{ median: number; p99: number; runsPerSecond: number }> {
  const broker = await spawnBroker({ args: ['--log-level', 'silent'] });
  const [a, b] = [await broker.openSession(), await broker.openSession()];
  for (let i = 0; i < 50; i++) await a.execute('print(1+1)');
  const latencies: number[] = [];
  for (let i = 0; i < N; i++) {
    await sleep(5);
    const start = performance.now();
    const result = await a.execute('print(1+1)');
    latencies.push(performance.now() - start);
    if (result.stdout !== '2\n') throw new Error(`unexpected result ${JSON.stringify(result)}`);
  }
  const seconds = 3;
  let done = 0;
  const until = performance.now() + seconds * 1000;
  // Two sessions, several executes queued on each so neither waits on a round trip.
  await Promise.all([a, b, a, b, a, b, a, b].map(async (session) => {
    while (performance.now() < until) {
      await session.execute('print(1+1)');
      done++;
    }
  }));
  await broker.close();
  return { ...stats(latencies), runsPerSecond: done / seconds };
}

const bottom = await floor();
const session = await sessions();
const cold = await coldBwrap();
const ours = await pycell();
console.log(`print(1+1), ${N} sequential runs with 25 ms idle gaps; throughput with 8 in flight for 5 s`);
console.log(`  floor: warm python3 over pipes  : median ${fmt(bottom.median)}, p99 ${fmt(bottom.p99)}`);
console.log(`  pycell session execute          : median ${fmt(session.median)}, p99 ${fmt(session.p99)}, ${session.runsPerSecond.toFixed(0)} runs/s across 2 sessions (8 in flight)`);
console.log(`  ratio session / floor (median)  : ${(session.median / bottom.median).toFixed(2)}x`);
console.log(`  cold bwrap + python3 -c per run : median ${fmt(cold.median)}, p99 ${fmt(cold.p99)}`);
console.log(`  pycell serve (fresh sandbox/run): median ${fmt(ours.median)}, p99 ${fmt(ours.p99)}, ${ours.runsPerSecond.toFixed(0)} runs/s`);
console.log(`  ratio cold / pycell (median)    : ${(cold.median / ours.median).toFixed(2)}x`);
