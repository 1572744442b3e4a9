/** A pool slot's life. "dead" slots are refilled by the reconcile step, subject to the respawn brake. */
export type SlotState = 'starting' | 'idle' | 'leased' | 'stopping' | 'dead';
export type SlotEvent = 'spawn' | 'ready' | 'startFailed' | 'lease' | 'release' | 'stop' | 'exited';

const transitions: Readonly<Record<SlotState, Partial<Record<SlotEvent, SlotState>>>> = {
  dead: { spawn: 'starting' },
  starting: { ready: 'idle', startFailed: 'dead', stop: 'stopping', exited: 'dead' },
  idle: { lease: 'leased', stop: 'stopping', exited: 'dead' },
  leased: { release: 'idle', stop: 'stopping', exited: 'dead' },
  stopping: { exited: 'dead', startFailed: 'dead' },
};

/** Pure: the next state, or an error naming the illegal move (a bug in the pool, never a user's doing). */
export function transition(state: SlotState, event: SlotEvent): SlotState {
  const next = transitions[state][event];
  if (next === undefined) throw new Error(`illegal slot transition: ${event} in state ${state}`);
  return next;
}

export function canTransition(state: SlotState, event: SlotEvent): boolean {
  return transitions[state][event] !== undefined;
}
