/**
 * soak(): ONE broker (real stdio, the client library), N executes from the seeded plan with C in flight,
 * then settle, close, and look for leftovers. The order matters: strays are looked for while the broker
 * is still up (only idle warm sandboxes may remain), leaks 2 s after it closed (nothing may remain).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientSession } from '../../src/client/index.js';
import { CLOSE_TIMEOUT_MS, SoakBroker } from './broker.js';
import { runPlan } from './drive.js';
import { cgroupsOf, describeProc, HostWatch } from './leaks.js';
import { buildKinds, SESSION_LIMITS } from './mix.js';
import { normalizeOptions, type SoakOptions } from './options.js';
import { plan } from './plan.js';
import { RssWatch } from './rss.js';
import { closeSessions, settlePool, SETTLE_TIMEOUT_MS } from './settle.js';
import type { SoakSummary } from './summary.js';
import { Tally } from './tally.js';
import { counterNotes, failuresOf } from './verdict.js';

export async function soak(options: SoakOptions = {}): Promise<SoakSummary> {
  const { runs, concurrency, seed, sessions: sessionCount, poolSize, lostAfterMs, log, sandboxUids, brokerArgs, daemonTag } = normalizeOptions(options);
  const kinds = buildKinds(daemonTag);
  const items = plan(kinds, runs, sessionCount, seed);
  const failures: string[] = [];

  // Before the broker starts: whatever exists now is not this soak's.
  const host = new HostWatch(sandboxUids, daemonTag);
  if (host.procsBefore.size > 0) log(`note: ${host.procsBefore.size} processes of uids ${sandboxUids.first}+${sandboxUids.count} existed before the soak (ignored)`);

  const wallStart = performance.now();
  const broker = await SoakBroker.spawn(brokerArgs, log);
  const reported = broker.client.initializeResult.capabilities.isolation.sandboxUids;
  if (reported && (reported.first !== host.uids.first || reported.count !== host.uids.count)) {
    log(`note: the broker reports sandbox uids ${reported.first}+${reported.count}, not the ${host.uids.first}+${host.uids.count} asked for; checking those`);
    host.uids = reported;
  }
  const rss = new RssWatch(broker.pid, runs);
  const sessions: ClientSession[] = [];
  for (let s = 0; s < sessionCount; s++) sessions.push(await broker.send((client) => client.openSession(SESSION_LIMITS)));
  const runtimeDir = host.runtimeDir(broker.pid);

  log(`pycell soak: seed ${seed}, ${runs} runs, concurrency ${concurrency}, ${sessionCount} sessions, broker pid ${broker.pid}, args ${brokerArgs.join(' ')}`);
  log(`mix (weights): ${kinds.map((k) => `${k.name} ${k.weight}`).join(', ')}`);

  const tally = new Tally(kinds, lostAfterMs);
  const { issued, soakMs } = await runPlan({ broker, sessions, tally, lostAfterMs }, items, concurrency, rss, log);
  if (issued < items.length) failures.push(`the broker died: only ${issued} of ${runs} executes were issued`);

  // Settle (nothing running, starting or queued), close the sessions, settle again.
  let { status: finalStatus, settled: settledPool } = await settlePool(broker, null);
  failures.push(...await closeSessions(broker, sessions));
  ({ status: finalStatus, settled: settledPool } = await settlePool(broker, finalStatus));
  if (!settledPool) failures.push(`the pool did not settle (busy 0, starting 0, queued 0) within ${SETTLE_TIMEOUT_MS / 1000} s: ${JSON.stringify(finalStatus?.workers)} queued ${finalStatus?.queued}`);
  const strays = await host.straysAtSettle(broker.pid);
  const rssMiB = rss.stop();

  // Close cleanly, then look for anything left on the host 2 s later.
  const closed = await broker.close();
  if (closed.timedOut) failures.push(`the broker did not exit within ${CLOSE_TIMEOUT_MS / 1000} s of shutdown/exit; killed it`);
  await sleep(2000);
  const { tap } = broker;
  const wire = { responses: tap.responses, expectedResponses: broker.sent - 1, ...tap.audit(broker.sent), examples: tap.examples };
  const leaked = host.leakedProcesses(runtimeDir);
  const tempDirs = host.leakedTempDirs(broker.pid, runtimeDir);
  const leakedCgroups = cgroupsOf(broker.pid);
  const wallMs = performance.now() - wallStart;

  const notes = counterNotes(finalStatus, runs, tally.byStatus);
  if (!host.asRoot) notes.push('not root: sandbox processes were told apart by command line and process tree, not by uid');
  const mismatches = tally.mismatches();
  failures.push(...failuresOf({
    runs, lostAfterMs, settled: tally.settled, lost: tally.lost, lostExamples: tally.lostExamples, wire, mismatches,
    strays: strays.length, leakedProcesses: leaked.length, leakedTempDirs: tempDirs.leaked.length, leakedCgroups: leakedCgroups.length,
    brokerDiedEarly: broker.diedEarly, brokerExitCode: closed.exitCode,
  }));

  return {
    seed, runs, concurrency, sessions: sessionCount, poolSize, brokerArgs, sandboxUids: host.uids, notes,
    requests: runs,
    settled: tally.settled,
    // The promise settles once by construction; a second response for the same id shows only on the wire.
    answeredOnce: tally.settled - (wire.duplicateIds > 0 ? wire.duplicateIds : 0),
    lost: tally.lost,
    lateAnswers: tally.lateAnswers,
    rejected: tally.rejected,
    byStatus: tally.byStatus,
    mismatches,
    guardRefused: tally.guardRefused,
    wire,
    strayAtSettle: { count: strays.length, examples: strays.slice(0, 5).map(describeProc) },
    leakedProcesses: { count: leaked.length, examples: leaked.slice(0, 5).map(describeProc) },
    leakedTempDirs: { count: tempDirs.leaked.length, paths: tempDirs.leaked, foreignIgnored: tempDirs.foreign },
    leakedCgroups: { count: leakedCgroups.length, paths: leakedCgroups.slice(0, 10) },
    runtimeDir,
    rssMiB,
    settledPool,
    wallMs,
    soakMs,
    runsPerSecond: tally.settled / (soakMs / 1000),
    brokerExitCode: closed.exitCode,
    brokerDiedEarly: broker.diedEarly,
    finalStatus,
    kinds: tally.kindStats(),
    failures,
    pass: failures.length === 0,
  };
}
