/** Per-request bookkeeping: what each answer was, whether it matched its kind, and how long it took. */
import type { ExecuteResult } from '../../src/client/index.js';
import type { Kind, Seen } from './kind.js';
import type { PlanItem } from './plan.js';
import type { KindStats, SoakSummary } from './summary.js';

interface KindTally {
  count: number;
  statuses: Record<string, number>;
  mismatches: number;
  fatal: number;
  example?: string;
  latencies: number[];
}

function quantiles(samples: number[]): { p50: number; p99: number; max: number } {
  if (samples.length === 0) return { p50: 0, p99: 0, max: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

function excerpt(result: ExecuteResult): string {
  const { stdout, stderr, ...rest } = result;
  return JSON.stringify({ ...rest, stdout: stdout.slice(0, 160), stderr: stderr.slice(0, 160) }).slice(0, 700);
}

const bump = (counts: Record<string, number>, key: string): void => void (counts[key] = (counts[key] ?? 0) + 1);

export class Tally {
  readonly byStatus: Record<string, number> = {};
  /** Executes answered with a JSON-RPC error, by code and message. */
  readonly rejected: Record<string, number> = {};
  /** Promises that settled before their deadline. */
  settled = 0;
  lost = 0;
  /** Answers that came after their request was declared lost: counted apart, never as answered. */
  lateAnswers = 0;
  guardRefused = 0;
  readonly lostExamples: string[] = [];
  private readonly stats = new Map<string, KindTally>();
  private readonly kinds: readonly Kind[];
  private readonly lostAfterMs: number;

  constructor(kinds: readonly Kind[], lostAfterMs: number) {
    for (const k of kinds) this.stats.set(k.name, { count: 0, statuses: {}, mismatches: 0, fatal: 0, latencies: [] });
    this.kinds = kinds;
    this.lostAfterMs = lostAfterMs;
  }

  private of(item: PlanItem): KindTally {
    return this.stats.get(item.kind.name)!;
  }

  answered(item: PlanItem, i: number, result: ExecuteResult, seen: Seen, latencyMs: number): void {
    this.settled++;
    const k = item.kind;
    const s = this.of(item);
    s.count++;
    s.latencies.push(latencyMs);
    bump(s.statuses, result.status);
    bump(this.byStatus, result.status);
    let problem: string | undefined;
    let fatal = false;
    if (k.guarded && result.stdout.includes('REFUSED')) {
      this.guardRefused++;
      problem = 'the GUARD refused to run the payload: not inside a sandbox';
      fatal = true;
    } else if (result.status !== k.expect) {
      problem = `expected ${k.expect}, got ${result.status}`;
      // "ok" where a limit, kill, crash or cancel was expected: a limit that did not hold, or a result that lies.
      fatal = result.status === 'ok';
    } else {
      problem = k.check?.(result, i, seen);
    }
    if (problem) {
      s.mismatches++;
      if (fatal) s.fatal++;
      s.example ??= `#${i}${k.session ? ` (session ${item.session})` : ''}: ${problem}; result ${excerpt(result)}`;
    }
  }

  rejectedWith(item: PlanItem, i: number, error: unknown): void {
    this.settled++;
    const code = (error as { code?: unknown }).code;
    const label = `${code ?? '?'} ${(error as Error).message ?? String(error)}`.slice(0, 120);
    bump(this.rejected, label);
    const s = this.of(item);
    s.count++;
    s.mismatches++;
    bump(s.statuses, '(error response)');
    s.example ??= `#${i}: answered with an error instead of a result: ${label}`;
  }

  lostOne(item: PlanItem, i: number): void {
    this.lost++;
    const s = this.of(item);
    s.count++;
    s.mismatches++;
    bump(s.statuses, '(lost)');
    s.example ??= `#${i}: no answer within ${this.lostAfterMs} ms`;
    if (this.lostExamples.length < 5) this.lostExamples.push(`#${i} ${item.kind.name}`);
  }

  mismatches(): SoakSummary['mismatches'] {
    const byKind = [...this.stats]
      .filter(([, s]) => s.mismatches > 0)
      .map(([kind, s]) => ({ kind, count: s.mismatches, fatal: s.fatal, example: s.example ?? '' }));
    return { total: byKind.reduce((n, m) => n + m.count, 0), fatal: byKind.reduce((n, m) => n + m.fatal, 0), byKind };
  }

  kindStats(): KindStats[] {
    return this.kinds.map((k) => {
      const s = this.stats.get(k.name)!;
      return { kind: k.name, session: k.session, expect: k.expect, count: s.count, statuses: s.statuses, mismatches: s.mismatches, fatal: s.fatal, ...(s.example ? { example: s.example } : {}), latencyMs: quantiles(s.latencies) };
    });
  }
}
