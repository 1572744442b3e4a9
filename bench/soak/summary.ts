/** What a soak found (the value soak() returns and --json writes), and its plain-text report. */
import type { StatusResult } from '../../src/client/index.js';

export interface KindStats {
  kind: string;
  session: boolean;
  expect: string;
  count: number;
  statuses: Record<string, number>;
  mismatches: number;
  fatal: number;
  /** One example of a mismatch: what was wrong and an excerpt of the result. */
  example?: string;
  latencyMs: { p50: number; p99: number; max: number };
}

export interface SoakSummary {
  seed: number;
  runs: number;
  concurrency: number;
  sessions: number;
  poolSize: number;
  brokerArgs: string[];
  sandboxUids: { first: number; count: number };
  /** Findings that do not fail the soak (the broker's own counters disagreeing with what the client saw, …). */
  notes: string[];
  requests: number;
  /** Executes whose promise settled (resolved or rejected) — once, by construction. */
  settled: number;
  /** Executes that settled, and whose id got exactly one response on the wire. */
  answeredOnce: number;
  lost: number;
  /** Lost requests answered after their deadline (at shutdown at the latest). */
  lateAnswers: number;
  /** Executes answered with a JSON-RPC error, by code and message. */
  rejected: Record<string, number>;
  byStatus: Record<string, number>;
  mismatches: { total: number; fatal: number; byKind: { kind: string; count: number; fatal: number; example: string }[] };
  guardRefused: number;
  wire: { responses: number; expectedResponses: number; duplicateIds: number; unknownIds: number; examples: string[] };
  strayAtSettle: { count: number; examples: string[] };
  leakedProcesses: { count: number; examples: string[] };
  leakedTempDirs: { count: number; paths: string[]; foreignIgnored: string[] };
  leakedCgroups: { count: number; paths: string[] };
  runtimeDir: string | null;
  rssMiB: { start: number; afterWarmup: number | null; byTenth: number[]; peak: number; end: number };
  settledPool: boolean;
  wallMs: number;
  soakMs: number;
  runsPerSecond: number;
  brokerExitCode: number | null;
  brokerDiedEarly: boolean;
  finalStatus: StatusResult | null;
  kinds: KindStats[];
  failures: string[];
  pass: boolean;
}

const fmtCounts = (counts: Record<string, number>): string =>
  Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || '—';

function fmtDuration(ms: number): string {
  const s = ms / 1000;
  return s >= 60 ? `${Math.floor(s / 60)}m ${(s % 60).toFixed(1)}s` : `${s.toFixed(1)}s`;
}

export function formatSummary(s: SoakSummary): string {
  const rows: [string, string][] = [];
  const row = (label: string, value: string | number): void => void rows.push([label, String(value)]);
  const f = s.finalStatus;
  row('requests', s.requests);
  row('answered exactly once', `${s.answeredOnce}${s.answeredOnce === s.requests ? '' : `  (settled ${s.settled})`}`);
  row('lost (must be 0)', s.lost);
  if (s.lateAnswers > 0) row('answered after being declared lost', s.lateAnswers);
  row('error responses', Object.keys(s.rejected).length === 0 ? '0' : fmtCounts(s.rejected));
  row('wire: responses / requests', `${s.wire.responses} / ${s.wire.expectedResponses}, duplicate ids ${s.wire.duplicateIds}, unknown ids ${s.wire.unknownIds}`);
  row('by status', fmtCounts(s.byStatus));
  row('status mismatches', `${s.mismatches.total} (fatal ${s.mismatches.fatal})`);
  for (const m of s.mismatches.byKind) row(`  ${m.kind}`, `${m.count}${m.fatal ? ` (${m.fatal} fatal)` : ''} — e.g. ${m.example}`);
  row('GUARD refused', s.guardRefused);
  row('stray sandbox processes at settle', s.strayAtSettle.count + (s.strayAtSettle.examples.length ? ` — ${s.strayAtSettle.examples.join(' | ')}` : ''));
  row('leaked processes (2 s after close)', s.leakedProcesses.count + (s.leakedProcesses.examples.length ? ` — ${s.leakedProcesses.examples.join(' | ')}` : ''));
  row('leaked temp dirs', s.leakedTempDirs.count + (s.leakedTempDirs.paths.length ? ` — ${s.leakedTempDirs.paths.join(', ')}` : '') + (s.leakedTempDirs.foreignIgnored.length ? `  (ignored ${s.leakedTempDirs.foreignIgnored.length} new dirs owned by other brokers)` : ''));
  row('leaked cgroups', s.leakedCgroups.count + (s.leakedCgroups.paths.length ? ` — ${s.leakedCgroups.paths.join(', ')}` : ''));
  row('broker RSS start / end (MiB)', `${s.rssMiB.start.toFixed(1)} / ${s.rssMiB.end.toFixed(1)}   (peak ${s.rssMiB.peak.toFixed(1)}; at each tenth of the runs: ${s.rssMiB.byTenth.map((v) => v.toFixed(0)).join(' ')})`);
  row('wall time', `${fmtDuration(s.wallMs)} (executes ${fmtDuration(s.soakMs)})`);
  row('runs/s', s.runsPerSecond.toFixed(1));
  row('broker exit code', s.brokerDiedEarly ? `${s.brokerExitCode} (died before close)` : String(s.brokerExitCode));
  if (f) {
    row('broker/status workers', `idle ${f.workers.idle}, busy ${f.workers.busy}, starting ${f.workers.starting}, queued ${f.queued}, sessions ${f.sessions}, unavailable ${f.unavailable ?? 'null'}${s.settledPool ? '' : '  (NOT settled)'}`);
    row('broker/status executions', f.counters.executions);
    row('broker/status byStatus', fmtCounts(f.counters.byStatus));
    row('broker/status killsByReason', fmtCounts(f.counters.killsByReason));
    row('broker/status workersLost', f.counters.workersLost);
    row('broker/status respawns', f.counters.respawns);
    row('broker/status startFailures', f.counters.startFailures);
    row('broker/status queueHighWater', f.counters.queueHighWater);
    row('broker/status monitor', `${f.monitor.sweeps} sweeps, mean ${f.monitor.meanSweepMs.toFixed(2)} ms, every ${f.monitor.intervalMs} ms, uptime ${fmtDuration(f.uptimeMs)}`);
  } else {
    row('broker/status', 'unavailable');
  }
  for (const note of s.notes) row('note', note);
  row('verdict', s.pass ? 'PASS' : `FAIL — ${s.failures.join('; ')}`);
  const width = Math.max(...rows.map(([l]) => l.length));
  const lines = [`== pycell soak: seed ${s.seed}, ${s.runs} runs, concurrency ${s.concurrency}, ${s.sessions} sessions, pool ${s.poolSize} ==`];
  for (const [label, value] of rows) lines.push(`${label.padEnd(width)}  ${value}`);
  lines.push('', 'by kind (expected status; what came back; latency p50 / p99 / max):');
  const kw = Math.max(...s.kinds.map((k) => k.kind.length));
  for (const k of s.kinds) {
    lines.push(`  ${k.kind.padEnd(kw)}  ${String(k.count).padStart(5)}  expect ${k.expect.padEnd(12)} got ${fmtCounts(k.statuses).padEnd(28)} ${k.latencyMs.p50.toFixed(0)} / ${k.latencyMs.p99.toFixed(0)} / ${k.latencyMs.max.toFixed(0)} ms${k.mismatches ? `  MISMATCH ${k.mismatches}` : ''}`);
  }
  return lines.join('\n');
}
