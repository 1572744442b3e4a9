/** Keeps `concurrency` requests of the plan in flight until it is done or the broker is gone. */
import type { RssWatch } from './rss.js';
import { executeOne, type ExecuteContext } from './execute.js';
import type { PlanItem } from './plan.js';

/** issued: how many requests were sent (fewer than planned only when the broker died). */
export async function runPlan(ctx: ExecuteContext, items: readonly PlanItem[], concurrency: number, rss: RssWatch, log: (line: string) => void): Promise<{ issued: number; soakMs: number }> {
  const runs = items.length;
  const soakStart = performance.now();
  let next = 0;
  let done = 0;
  // A line per tenth of the runs answered, checked 4 times a second, off the answers' own path.
  const progressEvery = Math.max(1, Math.ceil(runs / 10));
  let nextProgress = progressEvery;
  const progress = setInterval(() => {
    if (done >= nextProgress) {
      while (nextProgress <= done) nextProgress += progressEvery;
      const seconds = (performance.now() - soakStart) / 1000;
      log(`  ${done}/${runs} answered, ${(done / seconds).toFixed(1)} runs/s, lost ${ctx.tally.lost}, broker RSS ${rss.now().toFixed(1)} MiB`);
    }
  }, 250);
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length && !ctx.broker.exited) {
      const i = next++;
      await executeOne(ctx, items[i]!, i);
      done++;
      rss.answered(done);
    }
  }));
  clearInterval(progress);
  return { issued: next, soakMs: performance.now() - soakStart };
}
