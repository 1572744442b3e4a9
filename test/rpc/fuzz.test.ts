/**
 * Property-based fuzz of `pycell serve` over its real stdio (protocol/README.md, "Transport" and "Lifecycle").
 *
 * One broker process for the whole property; fast-check feeds it sequences of raw bytes that mix malformed
 * frames, wrong types, huge and deeply nested params, unknown methods, prototype-pollution keys, cancels of
 * unknown ids, invalid UTF-8, bad Content-Length headers, truncated bodies, batches, notifications with ids and
 * a few valid requests. Every case ends with a sync point (a fresh broker/status). After each case:
 *  1. the broker is still running;
 *  2. every request the broker could parse (a well-framed, valid JSON-RPC request) is answered exactly once,
 *     a well-framed invalid message carrying a readable id gets exactly one -32600 with that id, and nothing
 *     else gets an answer with an id (swallowed or unparseable requests get none); -32600 with id null is
 *     counted exactly, -32700 (always id null) within the bounds the contract allows;
 *  3. the sync broker/status gets a proper result;
 *  4. stdout carries only `Content-Length: N\r\n\r\n` + N bytes of JSON-RPC 2.0, all the time.
 *
 * Seed: PYCELL_FUZZ_SEED (default 20261123); runs: PYCELL_FUZZ_RUNS (default 200). A failure prints fast-check's
 * seed, path and counterexample, plus the exact stdin bytes of the failing case (also written to
 * $TMPDIR/pycell-fuzz-<seed>-failing-case.bin); PYCELL_FUZZ_PATH replays a path fast-check printed. A run that failed
 * leaves its broker behind: the next run (shrinking included) starts on a fresh one.
 * PYCELL_FUZZ_SKIP_FIXED=1 leaves out the inputs of the two bugs it found (both fixed; see the regression tests below).
 * PYCELL_FUZZ_CLI runs another build of cli.js (used to check that the checker catches planted faults).
 * PYCELL_FUZZ_VERBOSE=1 prints what was sent, by kind.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { caseArb } from '../helpers/fuzz/arbitraries.js';
import { Broker, freshBroker, send } from '../helpers/fuzz/broker.js';
import { statusCheck } from '../helpers/fuzz/contract.js';
import { REPLAY_PATH, RUNS, SEED, VERBOSE } from '../helpers/fuzz/env.js';
import { EXAMPLES } from '../helpers/fuzz/examples.js';
import { frame } from '../helpers/fuzz/frame.js';
import { BAD_CANCELS, type Case } from '../helpers/fuzz/items.js';
import type { Expectation } from '../helpers/fuzz/ledger.js';
import { runCase, shared, stats } from '../helpers/fuzz/run-case.js';
import { short } from '../helpers/fuzz/show.js';

describe(`broker fuzz over real stdio (fast-check, seed ${SEED}, ${RUNS} runs)`, function () {
  this.timeout(20 * 60_000); // a passing run takes well under a minute; a failing one shrinks against the real broker
  const started = Date.now();

  before(async function () {
    this.timeout(30_000);
    assert.ok(Number.isSafeInteger(SEED), `PYCELL_FUZZ_SEED must be an integer, got ${process.env.PYCELL_FUZZ_SEED}`);
    shared.broker = await Broker.start();
  });

  after(async () => {
    await shared.broker?.stop();
    if (VERBOSE) console.log(`fuzz: ${JSON.stringify(stats)} in ${Date.now() - started} ms`);
  });

  it('never crashes, answers every parseable request exactly once, keeps serving, and writes only well-formed frames', async () => {
    await fc.assert(fc.asyncProperty(caseArb, runCase), {
      seed: SEED,
      numRuns: RUNS,
      examples: EXAMPLES.map((c) => [c] as [Case]),
      ...(REPLAY_PATH ? { path: REPLAY_PATH } : {}),
    });
  });

  it('afterwards: no late or extra answers, stdout ends on a frame boundary, and shutdown + exit end the broker with code 0', async () => {
    const b = shared.broker!;
    assert.ok(b.alive, `the broker exited: ${JSON.stringify(b.exit)} ${b.stderr}`);
    const before = b.ledger.violations.length;
    const status = await send(b, '{"jsonrpc":"2.0","id":"final","method":"broker/status"}', 'final broker/status', statusCheck);
    await b.until(() => status.answered, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(b.ledger.violations.slice(before), []);
    assert.ok(status.answered);
    const outstanding = [...b.ledger.pending.values()].flat().map((e) => e.label);
    assert.deepEqual(outstanding, [], 'every expected answer arrived');
    assert.equal(b.leftover, 0, 'no partial frame on stdout');
    const shutdown = await send(b, '{"jsonrpc":"2.0","id":"bye","method":"shutdown"}', 'shutdown', (a) => ('result' in a && a.result === null ? undefined : JSON.stringify(a)));
    await b.until(() => shutdown.answered, 10_000);
    const exited = new Promise((resolve) => (b.alive ? b.child.once('exit', resolve) : resolve(undefined)));
    await b.write(frame('{"jsonrpc":"2.0","method":"exit"}'));
    await exited;
    assert.deepEqual(b.exit, { code: 0, signal: null });
    assert.deepEqual(b.ledger.violations.slice(before), []);
  });
});

/** Bugs the fuzz found, kept as regression tests. Each states the contract; the property above generates these inputs too. */
describe('regressions the fuzz found', function () {
  this.timeout(60_000);

  it('A: a $/cancelRequest notification without a usable params.id must not crash the broker ("Faults never end the broker")', async () => {
    const brokers = await Promise.all(BAD_CANCELS.map((_, slot) => freshBroker(slot)));
    const crashed: string[] = [];
    await Promise.all(BAD_CANCELS.map(async (body, i) => {
      const b = brokers[i]!;
      await b.write(frame(body));
      const status = await send(b, '{"jsonrpc":"2.0","id":"after","method":"broker/status"}', 'broker/status after the cancel', statusCheck);
      await b.until(() => status.answered, 5000);
      if (!b.alive || !status.answered) crashed.push(`${short(body, 90)} → exit ${JSON.stringify(b.exit)}: ${/^\w*Error: .*$/m.exec(b.stderr)?.[0] ?? b.stderr.slice(0, 200)}`);
      await b.stop();
    }));
    assert.ok(crashed.length === 0, `the broker died on ${crashed.length} of ${BAD_CANCELS.length} notifications:\n${crashed.join('\n')}`);
  });

  it('B: two requests in flight with the same id, or with ids 1 and "1", get two answers ("Every request gets exactly one response")', async () => {
    const b = await freshBroker();
    try {
      const same = [b.ledger.expect('7', 'id 7', undefined), b.ledger.expect('7', 'id 7', undefined)];
      const twins = [b.ledger.expect('1', 'id 1', undefined), b.ledger.expect('"1"', 'id "1"', undefined)];
      await b.write(Buffer.concat([
        frame('{"jsonrpc":"2.0","id":7,"method":"broker/status"}'),
        frame('{"jsonrpc":"2.0","id":7,"method":"no/such"}'),
        frame('{"jsonrpc":"2.0","id":1,"method":"broker/status"}'),
        frame('{"jsonrpc":"2.0","id":"1","method":"no/such"}'),
      ]));
      await b.until(() => [...same, ...twins].every((e) => e.answered), 3000);
      assert.ok(b.alive);
      const answers = [...same, ...twins].filter((e) => e.answered).map((e) => short(JSON.stringify(e.answer), 120));
      const count = (list: Expectation[]): number => list.filter((e) => e.answered).length;
      assert.ok(count(same) === 2 && count(twins) === 2,
        `4 requests, ${answers.length} answers: id 7 (broker/status, then no/such) answered ${count(same)} time(s), ids 1 and "1" answered ${count(twins)} time(s) in all:\n${answers.join('\n')}`);
    } finally {
      await b.stop();
    }
  });
});
