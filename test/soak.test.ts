import assert from 'node:assert/strict';
import { formatSummary, soak, type SoakSummary } from '../bench/soak.js';

/**
 * The short soak: the same soak() as `npm run soak` (bench/soak.ts), 500 mixed good and hostile executes
 * (stateless and in sessions, some cancelled) through ONE real broker, 8 in flight. About 20-30 s on a
 * 2-core machine.
 */
describe('soak (short): 500 mixed executes through one broker', function () {
  this.timeout(100_000);
  let summary: SoakSummary;
  let report: string;

  before(async () => {
    summary = await soak({ runs: 500, concurrency: 8, lostAfterMs: 30_000 });
    report = formatSummary(summary);
  });

  it('answers every request exactly once and loses none', () => {
    assert.equal(summary.lost, 0, report);
    assert.equal(summary.settled, 500, report);
    assert.equal(summary.answeredOnce, 500, report);
    assert.equal(summary.wire.duplicateIds, 0, report);
    assert.equal(summary.wire.unknownIds, 0, report);
    assert.equal(summary.wire.responses, summary.wire.expectedResponses, report);
  });

  it('never reports "ok" where a limit, kill or cancel was expected, and every guarded payload ran in a sandbox', () => {
    assert.equal(summary.mismatches.fatal, 0, report);
    assert.equal(summary.guardRefused, 0, report);
  });

  it('leaves no process, temp dir or cgroup behind, and the broker exits 0 when closed', () => {
    assert.equal(summary.strayAtSettle.count, 0, report);
    assert.equal(summary.leakedProcesses.count, 0, report);
    assert.equal(summary.leakedTempDirs.count, 0, report);
    assert.equal(summary.leakedCgroups.count, 0, report);
    assert.equal(summary.brokerExitCode, 0, report);
    assert.ok(summary.pass, report);
  });
});
