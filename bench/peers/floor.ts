/**
 * The floor: a warm Python process answering newline-JSON over pipes from Node. No sandbox, no broker,
 * no limits: the least any design that runs code in another process can cost on this machine.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pacedSnippets, saturate } from '../measure.js';
import { memoryOf } from '../procfs.js';
import { check, seen, snippets, type Plan } from '../plan.js';
import type { PathResult } from '../results.js';

const SERVER = `
import io, json, sys, contextlib
for line in sys.stdin:
    request = json.loads(line)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(request["code"], "<cell>", "exec"), {})
    sys.stdout.write(json.dumps({"stdout": out.getvalue()}) + "\\n")
    sys.stdout.flush()
`;

export interface Floor {
  readonly pid: number;
  run(code: string): Promise<string>;
  close(): void;
}

export function startFloor(python = '/usr/bin/python3'): Floor {
  const child = spawn(python, ['-I', '-u', '-c', SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: ((stdout: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.((JSON.parse(line) as { stdout: string }).stdout));
  return {
    pid: child.pid!,
    run(code) {
      return new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin!.write(`${JSON.stringify({ code })}\n`);
      });
    },
    close: () => child.kill(),
  };
}

/** Two rows: paced like sessions (fast) and like stateless requests, so each pycell path has its floor. */
export async function measureFloor(plan: Plan): Promise<PathResult[]> {
  // Two warm processes, one per core, as the two sessions of pycell's throughput target.
  const floors = [startFloor(), startFloor()];
  const [first] = floors as [Floor, Floor];
  try {
    const request = (floor: Floor) => (snippet: (typeof snippets)[number]) => async () => {
      check(snippet, seen(await floor.run(snippet.code)), 'floor');
    };
    const fast = await pacedSnippets(plan, 'fast', 'floor', request(first));
    const slow = await pacedSnippets(plan, 'paced', 'floor@25ms', request(first));
    const print = snippets[0]!;
    const throughput = await saturate((lane) => request(floors[lane % 2]!)(print)(), plan.levels, plan.saturateSeconds);
    const memory = { serverPeakMb: memoryOf(first.pid)?.hwmMb };
    const label = 'floor: warm python3, newline JSON over pipes';
    return [
      { name: 'floor', label, periodMs: plan.fastPeriodMs, latency: fast, throughput, memory, notes: ['runs/s: 2 warm processes (one per core)'] },
      { name: 'floor@25ms', label: `${label} (paced as stateless)`, periodMs: plan.statelessPeriodMs, latency: slow },
    ];
  } finally {
    for (const floor of floors) floor.close();
  }
}
