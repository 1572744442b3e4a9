/** One request of the plan: send it (streamed, cancelled when its kind says so) and wait for its answer or its deadline. */
import type { ClientSession, MimeBundle } from '../../src/client/index.js';
import type { SoakBroker } from './broker.js';
import type { PlanItem } from './plan.js';
import type { Tally } from './tally.js';

export interface ExecuteContext {
  readonly broker: SoakBroker;
  readonly sessions: readonly ClientSession[];
  readonly tally: Tally;
  readonly lostAfterMs: number;
}

export async function executeOne({ broker, sessions, tally, lostAfterMs }: ExecuteContext, item: PlanItem, i: number): Promise<void> {
  const k = item.kind;
  const request = k.make(i, item.r);
  const seen = { stdout: '', stderr: '', displays: [] as MimeBundle[] };
  const controller = request.cancel ? new AbortController() : undefined;
  let cancelTimer: NodeJS.Timeout | undefined;
  // A cancel on output needs the output as it streams, not only in the result.
  const wantsStream = request.stream === true || (request.cancel !== undefined && 'onOutput' in request.cancel);
  const onOutput = wantsStream
    ? (stream: 'stdout' | 'stderr', text: string): void => {
      if (stream === 'stdout') seen.stdout += text;
      else seen.stderr += text;
      if (controller && request.cancel && 'onOutput' in request.cancel && seen.stdout.includes(request.cancel.onOutput)) controller.abort();
    }
    : undefined;
  const onDisplay = wantsStream ? (data: MimeBundle): void => void seen.displays.push(data) : undefined;
  const execOptions = { ...(controller ? { signal: controller.signal } : {}), ...(onOutput ? { onOutput, onDisplay } : {}) };
  const start = performance.now();
  const { code, ...rest } = request.params;
  const promise = broker.send((client) => (k.session ? sessions[item.session]!.execute(code, { ...rest, ...execOptions }) : client.execute(request.params, execOptions)));
  if (controller && request.cancel && 'afterMs' in request.cancel) cancelTimer = setTimeout(() => controller.abort(), request.cancel.afterMs);
  let deadline: NodeJS.Timeout | undefined;
  let isLost = false;
  const outcome = await new Promise<'settled' | 'lost'>((resolve) => {
    deadline = setTimeout(() => {
      isLost = true; // before any later settle can run: it then counts as late, never as answered
      resolve('lost');
    }, lostAfterMs);
    promise.then(
      (result) => {
        if (isLost) {
          tally.lateAnswers++;
          return;
        }
        tally.answered(item, i, result, seen, performance.now() - start);
        resolve('settled');
      },
      (error: unknown) => {
        if (isLost) {
          tally.lateAnswers++;
          return;
        }
        tally.rejectedWith(item, i, error);
        resolve('settled');
      },
    );
  });
  clearTimeout(deadline);
  clearTimeout(cancelTimer);
  if (outcome === 'lost') tally.lostOne(item, i);
}
