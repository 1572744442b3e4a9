import assert from 'node:assert/strict';
import { startBroker } from '../security/harness.js';

/** The queue is bounded on the real broker: past --max-queue, execute fails at once with -32001, and the queue's high-water mark says how deep it got. */
describe('supervision: a bounded queue', function () {
  this.timeout(30_000);
  it('with one sandbox and a queue of 2, the 4th concurrent execute is refused at once; the others all run', async () => {
    const broker = await startBroker({ args: ['--pool-size', '1', '--max-queue', '2'] });
    try {
      const code = 'import time\ntime.sleep(0.3)\nprint("ran")';
      const running = broker.execute({ code });
      await new Promise((resolve) => setTimeout(resolve, 100)); // the first one holds the only sandbox
      const queued = [broker.execute({ code }), broker.execute({ code })];
      const started = performance.now();
      const refused = await broker.execute({ code }).then(() => undefined, (e: Error & { code?: number }) => e);
      assert.ok(refused, 'the execute past the queue bound ran');
      assert.equal(refused.code, -32001);
      assert.match(refused.message, /the execute queue is full \(2 waiting\); retry later/);
      assert.ok(performance.now() - started < 500, 'the refusal waited');
      for (const result of await Promise.all([running, ...queued])) assert.equal(result.stdout, 'ran\n');
      const status = await broker.client.status();
      assert.equal(status.counters.queueHighWater, 2);
      assert.equal(status.counters.executions, 3);
    } finally {
      await broker.close();
    }
  });
});
