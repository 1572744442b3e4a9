/** What the monitor measured for one sandbox's process tree. */
export interface Sample {
  readonly cpuMs: number;
  readonly memoryBytes: number;
}

export interface WatchLimits {
  readonly cpuMs: number;
  readonly memoryBytes: number;
}

export type MonitorReason = 'cpu_limit' | 'memory_limit';

/** Pure: does this sample break a limit? Memory first: it is the one that endangers the host. */
export function exceeds(sample: Sample, limits: WatchLimits): MonitorReason | undefined {
  if (sample.memoryBytes > limits.memoryBytes) return 'memory_limit';
  if (sample.cpuMs > limits.cpuMs) return 'cpu_limit';
  return undefined;
}
