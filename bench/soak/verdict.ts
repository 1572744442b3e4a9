/** The pass/fail rules of the soak, and the findings that are printed but do not fail it. */
import type { StatusResult } from '../../src/client/index.js';
import type { SoakSummary } from './summary.js';

/** The facts the verdict is drawn from (the summary's own fields, where it has them). */
export type VerdictFacts = Pick<SoakSummary, 'runs' | 'settled' | 'lost' | 'wire' | 'mismatches' | 'brokerDiedEarly' | 'brokerExitCode'> & {
  readonly lostAfterMs: number;
  readonly lostExamples: readonly string[];
  readonly strays: number;
  readonly leakedProcesses: number;
  readonly leakedTempDirs: number;
  readonly leakedCgroups: number;
};

/**
 * Everything that fails the soak. A status mismatch fails it only when fatal ("ok" where a limit, kill,
 * crash or cancel was expected, or the GUARD refused); other mismatches are findings in the summary.
 */
export function failuresOf(f: VerdictFacts): string[] {
  const failures: string[] = [];
  if (f.lost > 0) failures.push(`${f.lost} requests lost (no answer within ${f.lostAfterMs} ms): ${f.lostExamples.join(', ')}`);
  if (f.settled !== f.runs) failures.push(`${f.settled} of ${f.runs} executes settled`);
  if (f.wire.duplicateIds > 0) failures.push(`${f.wire.duplicateIds} request ids answered more than once on the wire`);
  if (f.wire.unknownIds > 0) failures.push(`${f.wire.unknownIds} responses for ids this client never sent`);
  // A broker that died is a failure of its own: the responses it never sent are not a second one.
  if (f.wire.responses !== f.wire.expectedResponses && !f.brokerDiedEarly) failures.push(`${f.wire.responses} responses on the wire for ${f.wire.expectedResponses} requests`);
  if (f.mismatches.fatal > 0) failures.push(`${f.mismatches.fatal} fatal status mismatches ("ok" where another status was expected, or the GUARD refused)`);
  if (f.strays > 0) failures.push(`${f.strays} sandbox processes left over once the pool settled`);
  if (f.leakedProcesses > 0) failures.push(`${f.leakedProcesses} processes leaked after close`);
  if (f.leakedTempDirs > 0) failures.push(`${f.leakedTempDirs} temp dirs leaked`);
  if (f.leakedCgroups > 0) failures.push(`${f.leakedCgroups} cgroups leaked`);
  if (f.brokerDiedEarly) failures.push('the broker exited before it was closed');
  else if (f.brokerExitCode !== 0) failures.push(`the broker exited with code ${f.brokerExitCode} after shutdown/exit (expected 0)`);
  return failures;
}

/** The broker's own counters against what this client saw: findings, not failures. */
export function counterNotes(status: StatusResult | null, runs: number, byStatus: Record<string, number>): string[] {
  const notes: string[] = [];
  if (!status) return notes;
  if (status.counters.executions !== runs) notes.push(`broker/status counts ${status.counters.executions} executions for ${runs} sent`);
  for (const s of new Set([...Object.keys(byStatus), ...Object.keys(status.counters.byStatus)])) {
    if ((byStatus[s] ?? 0) !== (status.counters.byStatus[s] ?? 0)) notes.push(`broker/status byStatus.${s} ${status.counters.byStatus[s] ?? 0}, the client saw ${byStatus[s] ?? 0}`);
  }
  return notes;
}
