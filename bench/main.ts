/**
 * `npm run bench`: pycell against its floor and its peers, in one run, on the same snippets.
 *   node dist/bench/main.js [--quick] [--json PATH] [--only floor,jupyter,cold-python,cold-bwrap,session,process,sandbox]
 * Prints the tables, ratios and targets; writes them as JSON (default bench-results/<time>-<commit>.json).
 * A path that cannot run here is reported as skipped and the rest goes on. Never part of `npm test`.
 * Pacing (low load): the floor, sessions and Jupyter start a request every 5 ms; stateless pycell, the
 * cold peers and a second floor row every 25 ms (40 req/s). Ratios only pair rows paced alike.
 */
import { execFile } from 'node:child_process';
import { cpus, release } from 'node:os';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { makePlan, type Plan } from './plan.js';
import { measureColdBwrap, measureColdPython, PYTHON } from './peers/cold.js';
import { measureFloor } from './peers/floor.js';
import { measureJupyter } from './peers/jupyter.js';
import { measureSession, measureStateless } from './pycell.js';
import { formatReport, writeJson } from './report.js';
import { skippedRow, type PathName, type PathResult } from './results.js';
import { makeRatios, makeTargets } from './targets.js';

const run = promisify(execFile);

const scenarios: readonly { name: string; label: string; measure: (plan: Plan) => Promise<PathResult | PathResult[]> }[] = [
  { name: 'floor', label: 'floor', measure: measureFloor },
  { name: 'jupyter', label: 'Jupyter', measure: measureJupyter },
  { name: 'cold-python', label: 'cold python3 -c', measure: measureColdPython },
  { name: 'cold-bwrap', label: 'cold bwrap + python3 -c', measure: measureColdBwrap },
  { name: 'session', label: 'pycell session', measure: measureSession },
  { name: 'process', label: 'pycell stateless, isolation "process"', measure: (plan) => measureStateless(plan, 'process') },
  { name: 'sandbox', label: 'pycell stateless, isolation "sandbox"', measure: (plan) => measureStateless(plan, 'sandbox') },
];

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'string' }, only: { type: 'string' } } });
const only = values.only?.split(',').map((name) => name.trim());
const unknown = only?.filter((name) => !scenarios.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) {
  console.error(`bench: unknown --only ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

async function output(file: string, args: string[]): Promise<string> {
  try {
    return (await run(file, args)).stdout.trim();
  } catch {
    return 'unknown';
  }
}

const plan = makePlan(values.quick);
const started = performance.now();
const paths: PathResult[] = [];
for (const scenario of scenarios.filter((s) => !only || only.includes(s.name))) {
  const t0 = performance.now();
  process.stderr.write(`bench: ${scenario.label} ...`);
  try {
    paths.push(...[await scenario.measure(plan)].flat());
  } catch (error) {
    paths.push(skippedRow(scenario.name as PathName, scenario.label, error));
  }
  process.stderr.write(` ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

const ratios = makeRatios(paths);
const targets = makeTargets(paths);
const elapsedSeconds = Math.round((performance.now() - started) / 100) / 10;
const commit = `${await output('git', ['rev-parse', '--short', 'HEAD'])}${(await output('git', ['status', '--porcelain'])) === '' ? '' : '-dirty'}`;
const date = new Date().toISOString();
const host = { cpus: cpus().length, kernel: release(), node: process.version, python: await output(PYTHON, ['--version']), bwrap: await output('bwrap', ['--version']) };
console.log(formatReport(plan, paths, ratios, targets));
const jsonPath = values.json ?? `bench-results/${date.replace(/[:.]/g, '-')}-${commit}.json`;
writeJson(jsonPath, { commit, date, elapsedSeconds, host }, plan, paths, ratios, targets);
console.log(`\n${elapsedSeconds} s; ${host.cpus} cores, ${host.python}, ${host.bwrap}, node ${host.node}; commit ${commit}`);
console.log(`wrote ${jsonPath}`);
