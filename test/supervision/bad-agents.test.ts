import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT } from '../../scripts/gen-schema.js';
import type { ExecuteResult } from '../../src/client/index.js';
import { leftovers, statusWhen, settled, startBroker, waitFor, type SecurityBroker } from '../security/harness.js';

const FIXTURES = join(ROOT, 'test/fixtures/agents');

/**
 * Tiny stand-in agents (test/fixtures/agents/*) in place of the real one, in the real sandbox: each
 * request is answered exactly once with a typed result or error, the broker keeps serving, and nothing
 * is left running. The broker's own records decide every status; what a bad agent claims does not.
 */
describe('supervision: broken agents', function () {
  this.timeout(60_000);

  async function withAgent<T>(name: string, args: string[], body: (broker: SecurityBroker) => Promise<T>): Promise<T> {
    const broker = await startBroker({ args: ['--agent-dir', join(FIXTURES, name), '--pool-size', '1', ...args] });
    try {
      return await body(broker);
    } finally {
      await broker.close();
      const uids = broker.init.capabilities.isolation.sandboxUids!;
      assert.ok(await waitFor(() => leftovers(broker.pid, 0, uids).length === 0, 3000), `processes left by ${name}`);
    }
  }

  /** Every answer arrives exactly once: a result or an error, never both, never twice. */
  async function once(promise: Promise<ExecuteResult>): Promise<ExecuteResult | Error & { code?: number; data?: unknown }> {
    let settledCount = 0;
    const answer = await promise.then((r) => (settledCount++, r), (e: Error) => (settledCount++, e));
    assert.equal(settledCount, 1);
    return answer;
  }

  it('never ready: start-up times out, the brake trips after three failures, and requests fail at once with the real reason (-32010)', async () => {
    await withAgent('never-ready', ['--start-timeout-ms', '300'], async (broker) => {
      const unavailable = await statusWhen(broker, (status) => status.unavailable !== null, 10_000);
      assert.ok(unavailable, 'the brake never tripped');
      assert.match(unavailable.unavailable!, /did not become ready within 300 ms/);
      assert.ok(unavailable.counters.startFailures >= 3);
      const answer = await once(broker.execute({ code: 'print(1)' }));
      assert.ok(answer instanceof Error, JSON.stringify(answer));
      assert.equal(answer.code, -32010);
      assert.match(answer.message, /sandboxes cannot start on this host: the worker did not become ready within 300 ms/);
    });
  });

  it('crash mid-run (SIGSEGV): "crashed", the output so far kept, the worker counted lost, and the next run gets a fresh worker', async () => {
    await withAgent('crash-mid-run', [], async (broker) => {
      const first = await once(broker.execute({ code: 'print(1)' }));
      assert.ok(!(first instanceof Error));
      assert.equal(first.status, 'crashed');
      assert.equal(first.stdout, 'started\n');
      assert.match(first.message!, /^the worker was lost: it exited with code 139 before reporting a result, and the broker did not kill it$/);
      const second = await once(broker.execute({ code: 'print(2)' }));
      assert.ok(!(second instanceof Error) && second.status === 'crashed');
      await settled(broker);
      // A loss is counted when the sandbox's teardown ends, which the answer does not wait for.
      const status = await statusWhen(broker, (s) => s.counters.workersLost >= 2, 3000);
      assert.equal(status.counters.workersLost, 2);
      assert.equal(status.counters.byStatus.crashed, 2);
    });
  });

  it('a flood of unsolicited control messages: cut at the control byte cap, the worker killed, "crashed" for the protocol', async () => {
    await withAgent('flood-control', [], async (broker) => {
      let displays = 0;
      const result = await once(broker.execute({ code: 'x', outputToken: 't' }, { onDisplay: () => displays++ }));
      assert.ok(!(result instanceof Error));
      assert.equal(result.status, 'crashed');
      assert.match(result.message!, /^the worker broke the control protocol and was killed: more than 67108864 control bytes$/);
      assert.equal((await broker.client.status()).counters.killsByReason.protocol, 1);
    });
  });

  it('one endless control message: cut at the line cap (16 MiB), "crashed"', async () => {
    await withAgent('endless-line', [], async (broker) => {
      const result = await once(broker.execute({ code: 'x' }));
      assert.ok(!(result instanceof Error));
      assert.equal(result.status, 'crashed');
      assert.match(result.message!, /control line longer than 16777216 bytes/);
    });
  });

  it('garbage on the control channel: "crashed" at once, not a hang', async () => {
    await withAgent('garbage', [], async (broker) => {
      const result = await once(broker.execute({ code: 'x', limits: { timeoutMs: 20_000 } }));
      assert.ok(!(result instanceof Error));
      assert.equal(result.status, 'crashed');
      assert.match(result.message!, /a control line that is not JSON/);
      assert.ok(result.usage.wallMs < 5000);
    });
  });

  it('a liar: a forged result for another run is ignored; "ok" followed by exit 137 is "crashed", never ok, never memory_limit', async () => {
    await withAgent('liar', [], async (broker) => {
      const result = await once(broker.execute({ code: 'x' }));
      assert.ok(!(result instanceof Error));
      assert.equal(result.status, 'crashed');
      assert.equal(result.value, undefined);
      assert.equal(result.exitCode, 137);
      assert.match(result.message!, /reported "ok" but exited with code 137/);
    });
  });

  it('hung without reading its execute: the wall-clock timer ends it as "timeout"', async () => {
    await withAgent('deaf', [], async (broker) => {
      const result = await once(broker.execute({ code: 'x', limits: { timeoutMs: 500 } }));
      assert.ok(!(result instanceof Error));
      assert.equal(result.status, 'timeout');
      assert.equal((await broker.client.status()).counters.killsByReason.timeout, 1);
    });
  });
});
