/**
 * The monitor's cost with many sandboxes running: N concurrent executes that sleep, so the monitor
 * sweeps /proc for N watched process trees every interval. Prints the broker's CPU over the window
 * (from /proc/<pid>/stat, so it includes everything the broker does, not only the sweeps) and the
 * monitor's own mean sweep time from broker/status.
 *   node dist/bench/monitor.js [--sandboxes 50] [--seconds 5] [--interval-ms 50] [--cgroups auto|off]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { spawnBroker } from '../src/client/index.js';

const { values } = parseArgs({ options: { sandboxes: { type: 'string', default: '50' }, seconds: { type: 'string', default: '5' }, 'interval-ms': { type: 'string', default: '50' }, cgroups: { type: 'string', default: 'auto' } } });
const sandboxes = Number(values.sandboxes);
const seconds = Number(values.seconds);
const TICKS = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime
}

const broker = await spawnBroker({ args: ['--pool-size', String(sandboxes), '--max-queue', String(sandboxes), '--monitor-interval-ms', values['interval-ms']!, '--cgroups', values.cgroups!, '--log-level', 'warn'] });
const pid = broker.child!.pid!;
for (;;) {
  const status = await broker.status();
  if (status.workers.idle === sandboxes) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const runs = Array.from({ length: sandboxes }, () => broker.execute({ code: `import time\ntime.sleep(${seconds + 2})`, limits: { timeoutMs: (seconds + 10) * 1000 } }));
await new Promise((resolve) => setTimeout(resolve, 1000)); // every run started and watched
const before = { cpu: cpuSeconds(pid), at: performance.now(), sweeps: (await broker.status()).monitor.sweeps };
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const after = { cpu: cpuSeconds(pid), at: performance.now(), status: await broker.status() };
const wall = (after.at - before.at) / 1000;
console.log(`${sandboxes} sandboxes running, monitor every ${values['interval-ms']} ms, cgroups ${values.cgroups}, ${wall.toFixed(1)} s window`);
console.log(`  broker CPU                : ${(((after.cpu - before.cpu) / wall) * 100).toFixed(2)} % of one core`);
const sweeps = after.status.monitor.sweeps - before.sweeps;
console.log(`  monitor sweeps            : ${sweeps} in the window, mean ${after.status.monitor.meanSweepMs.toFixed(3)} ms each`);
console.log(`  sweep cost                : ${(((sweeps * after.status.monitor.meanSweepMs) / (wall * 1000)) * 100).toFixed(2)} % of one core`);
await Promise.all(runs);
await broker.close();
