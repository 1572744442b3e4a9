/**
 * Soak test of `pycell serve`: ONE broker (real stdio, the client library), N executes with C in flight,
 * drawn pseudo-randomly (from a printed seed) from good and hostile snippets, stateless and in sessions,
 * some cancelled mid-run. For every request: was it answered exactly once (the promise settled, and on
 * the wire exactly one response carried its id), and did its status match what that snippet must
 * produce. At the end: the pool settles, the broker closes cleanly, and nothing may be left on the host
 * (sandbox-uid processes, the runtime dir, temp dirs, cgroups).
 *
 *   npm run soak -- [--runs N] [--concurrency C] [--seed S] [--json FILE]
 *                   [--sessions K] [--pool-size P] [--lost-after-ms MS]
 *
 * Exit code 0 only when: no request was lost, every request was answered exactly once (no duplicate or
 * unknown response id on the wire), no process, temp dir or cgroup leaked, no sandbox process was left
 * over once the pool settled, the broker exited 0 when closed, and no status mismatch is FATAL. A status
 * mismatch is fatal when the run was reported "ok" where a limit, kill, crash or cancel was expected (a
 * limit that did not hold, or a result that lies), or when a guarded payload's GUARD refused to run (it
 * was not inside a sandbox). Every other mismatch (another non-ok status than expected, a failed content
 * check, an error response) is printed as a finding but does not fail the soak.
 *
 * This file is the CLI only; the soak lives in bench/soak/ (run.ts is soak() itself, mix.ts what is sent,
 * verdict.ts what fails it). test/soak.test.ts runs the same soak() with 500 runs in CI.
 */
import { realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONCURRENCY, DEFAULT_RUNS, DEFAULT_SEED, type SoakOptions } from './soak/options.js';
import { soak } from './soak/run.js';
import { formatSummary } from './soak/summary.js';

export { DEFAULT_SEED, type SoakOptions } from './soak/options.js';
export { soak } from './soak/run.js';
export { formatSummary, type KindStats, type SoakSummary } from './soak/summary.js';
export { WireTap } from './soak/wire.js';

function parseArgs(argv: readonly string[]): SoakOptions & { json?: string } {
  const out: { -readonly [K in keyof SoakOptions]: SoakOptions[K] } & { json?: string } = {};
  const int = (name: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer ≥ ${min}, got ${value}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    switch (flag) {
      case '--runs': out.runs = int(flag, value, 1); i++; break;
      case '--concurrency': out.concurrency = int(flag, value, 1); i++; break;
      case '--seed': out.seed = int(flag, value, 0); i++; break;
      case '--sessions': out.sessions = int(flag, value, 1); i++; break;
      case '--pool-size': out.poolSize = int(flag, value, 1); i++; break;
      case '--lost-after-ms': out.lostAfterMs = int(flag, value, 1); i++; break;
      case '--json': if (!value) throw new Error('--json needs a file'); out.json = value; i++; break;
      case '--help': case '-h':
        console.log(`usage: npm run soak -- [--runs N (${DEFAULT_RUNS})] [--concurrency C (${DEFAULT_CONCURRENCY})] [--seed S] [--json FILE] [--sessions K (4)] [--pool-size P (4)] [--lost-after-ms MS (60000)]`);
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${flag} (--help)`);
    }
  }
  return out;
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  console.log(`pycell soak: seed ${options.seed ?? DEFAULT_SEED} (--seed to replay), ${options.runs ?? DEFAULT_RUNS} runs, concurrency ${options.concurrency ?? DEFAULT_CONCURRENCY}`);
  const summary = await soak({ ...options, log: (line) => console.log(line) });
  console.log(formatSummary(summary));
  if (options.json) writeFileSync(options.json, `${JSON.stringify(summary, null, 2)}\n`);
  process.exitCode = summary.pass ? 0 : 1;
}

// test/soak.test.ts imports this file: only `node dist/bench/soak.js` runs the CLI.
const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) await main();
