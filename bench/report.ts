/**
 * What the bench prints (latency table, throughput and memory, ratios, targets) and the JSON file
 * it writes for comparing commits.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { snippets, type Plan } from './plan.js';
import type { PathResult } from './results.js';
import { MONITOR_POINTER, type Ratio, type Target } from './targets.js';

const pad = (text: string, width: number): string => text.padEnd(width);
const num = (value: number | undefined, digits = 2): string => (value === undefined ? '-' : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(digits));

export function formatReport(plan: Plan, paths: readonly PathResult[], ratios: readonly Ratio[], targets: readonly Target[]): string {
  const lines: string[] = [];
  const snippetCols = snippets.map((s) => pad(s.label, 18)).join('');
  lines.push(`latency, one request at a time (ms; median / p99; requests start every "period" ms, idle time untimed)${plan.quick ? ' [--quick]' : ''}`);
  lines.push(`  ${pad('path', 12)}${pad('period', 8)}${snippetCols}`);
  for (const path of paths) {
    if (path.skipped) {
      lines.push(`  ${pad(path.name, 12)}skipped: ${path.skipped}`);
      continue;
    }
    if (!path.latency) continue;
    const cells = snippets.map((s) => pad(`${num(path.latency![s.name].median)} / ${num(path.latency![s.name].p99)}`, 18)).join('');
    // A path slower than its period runs back to back instead: its row is not at the intended load.
    const late = path.periodMs !== undefined && path.latency.print.median > path.periodMs;
    lines.push(`  ${pad(path.name, 12)}${pad(`${path.periodMs ?? '-'}${late ? '*' : ''}`, 8)}${cells}`);
  }
  if (paths.some((p) => p.latency && p.periodMs !== undefined && p.latency.print.median > p.periodMs)) {
    lines.push('  * slower than its period: the next request starts as soon as one ends, so that row is back to back, not at the intended rate');
  }
  lines.push('', 'throughput (print(1+1), saturated: best runs/s over the in-flight levels tried) and memory (MB)');
  lines.push(`  ${pad('path', 12)}${pad('runs/s', 9)}${pad('in flight', 11)}${pad('server peak', 13)}${pad('worker peak', 13)}levels tried (in flight: runs/s)`);
  for (const path of paths.filter((p) => !p.skipped && (p.throughput || p.memory))) {
    const t = path.throughput;
    const levels = t ? t.levels.map((l) => `${l.concurrency}: ${l.runsPerSecond.toFixed(0)}`).join(', ') : '';
    lines.push(`  ${pad(path.name, 12)}${pad(t ? t.runsPerSecond.toFixed(0) : '-', 9)}${pad(t ? String(t.concurrency) : '-', 11)}${pad(num(path.memory?.serverPeakMb, 1), 13)}${pad(num(path.memory?.workerPeakMb, 1), 13)}${levels}`);
  }
  lines.push('  server peak: VmHWM of the broker (floor: its python; Jupyter: the kernel); worker peak: largest usage.peakMemoryBytes pycell reported for one run');
  lines.push('', 'idle process trees under each broker (per process: median VmRSS / VmHWM / Pss, MB)');
  for (const path of paths.filter((p) => p.memory?.idle)) {
    const groups = path.memory!.idle!.map((g) => `${g.comm} x${g.count}: ${num(g.rssMb, 1)} / ${num(g.hwmMb, 1)} / ${num(g.pssMb, 1)}`);
    lines.push(`  ${pad(path.name, 12)}${groups.join('; ') || '(no processes)'}`);
  }
  lines.push('', 'ratios (median per snippet; runs/s of print(1+1) saturated)');
  lines.push(`  ${pad('', 40)}${snippetCols}runs/s`);
  for (const ratio of ratios) {
    const cells = snippets.map((s) => pad(ratio.median[s.name] === undefined ? '-' : `${ratio.median[s.name]!.toFixed(2)}x`, 18)).join('');
    lines.push(`  ${pad(ratio.label, 40)}${cells}${ratio.runsPerSecond === undefined ? '-' : `${ratio.runsPerSecond.toFixed(3)}x`}`);
  }
  lines.push('', 'targets');
  for (const target of targets) {
    const verdict = target.met === undefined ? 'n/a    ' : target.met ? 'met    ' : 'NOT MET';
    lines.push(`  ${verdict}  ${pad(target.target, 58)}${target.measured}`);
  }
  lines.push(`  ${MONITOR_POINTER}`);
  lines.push('', 'paths');
  for (const path of paths) lines.push(`  ${pad(path.name, 12)}${path.label}${path.notes?.length ? ` (${path.notes.join('; ')})` : ''}`);
  return lines.join('\n');
}

export interface Meta {
  readonly commit: string;
  readonly date: string;
  readonly elapsedSeconds: number;
  readonly host: Readonly<Record<string, string | number>>;
}

export function writeJson(path: string, meta: Meta, plan: Plan, paths: readonly PathResult[], ratios: readonly Ratio[], targets: readonly Target[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const snippetInfo = snippets.map((s) => ({ name: s.name, label: s.label, lines: s.code.split('\n').length }));
  writeFileSync(path, `${JSON.stringify({ version: 1, ...meta, plan, snippets: snippetInfo, paths, ratios, targets }, null, 2)}\n`);
}
