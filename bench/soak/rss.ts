/** The broker's resident memory over the soak: a leak shows as growth from one tenth of the runs to the next. */
import { readFileSync } from 'node:fs';

export function rssMiB(pid: number): number {
  try {
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? NaN);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

export interface RssSummary {
  start: number;
  afterWarmup: number | null;
  byTenth: number[];
  peak: number;
  end: number;
}

export class RssWatch {
  private readonly pid: number;
  private readonly runs: number;
  private readonly start: number;
  private peak: number;
  private afterWarmup: number | null = null;
  /** RSS each time another tenth of the runs was answered. */
  private readonly byTenth: number[] = [];
  /** Between tenths a short spike would go unseen: a 1 s sampler keeps the peak. */
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number, runs: number) {
    this.pid = pid;
    this.runs = runs;
    this.start = rssMiB(pid);
    this.peak = this.start;
    this.timer = setInterval(() => {
      const now = rssMiB(pid);
      if (now > this.peak) this.peak = now;
    }, 1000);
    this.timer.unref();
  }

  now(): number {
    return rssMiB(this.pid);
  }

  /** done: requests answered so far. */
  answered(done: number): void {
    while (this.byTenth.length < 10 && done >= Math.ceil(((this.byTenth.length + 1) * this.runs) / 10)) this.byTenth.push(rssMiB(this.pid));
    if (this.afterWarmup === null && this.byTenth.length > 0) this.afterWarmup = this.byTenth[0]!;
  }

  stop(): RssSummary {
    const end = rssMiB(this.pid);
    clearInterval(this.timer);
    return { start: this.start, afterWarmup: this.afterWarmup, byTenth: this.byTenth, peak: Math.max(this.peak, end), end };
  }
}
