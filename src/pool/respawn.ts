/** The respawn brake's memory: consecutive start failures and the last reason. */
export interface BrakeState {
  readonly failures: number;
  readonly lastError: string | undefined;
}

export const initialBrake: BrakeState = { failures: 0, lastError: undefined };

/** After this many failures in a row the pool is "unavailable": requests fail at once with the reason. */
export const FAILURES_BEFORE_UNAVAILABLE = 3;
const BASE_DELAY_MS = 100;
const MAX_DELAY_MS = 10_000;

export function onStartFailed(state: BrakeState, reason: string): BrakeState {
  return { failures: state.failures + 1, lastError: reason };
}

export function onStarted(): BrakeState {
  return initialBrake;
}

/** Pure: how long to wait before the next spawn. No failures: at once; then exponential, capped. */
export function respawnDelayMs(state: BrakeState): number {
  if (state.failures === 0) return 0;
  return Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (state.failures - 1));
}

export function isUnavailable(state: BrakeState): boolean {
  return state.failures >= FAILURES_BEFORE_UNAVAILABLE;
}
