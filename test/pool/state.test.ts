import assert from 'node:assert/strict';
import { canTransition, transition, type SlotEvent, type SlotState } from '../../src/pool/state.js';

const states: SlotState[] = ['dead', 'starting', 'idle', 'leased', 'stopping'];
const events: SlotEvent[] = ['spawn', 'ready', 'startFailed', 'lease', 'release', 'stop', 'exited'];

/** Every (state, event) pair: the next state, or null when the move is a pool bug. */
const table: Record<SlotState, Record<SlotEvent, SlotState | null>> = {
  dead: { spawn: 'starting', ready: null, startFailed: null, lease: null, release: null, stop: null, exited: null },
  starting: { spawn: null, ready: 'idle', startFailed: 'dead', lease: null, release: null, stop: 'stopping', exited: 'dead' },
  idle: { spawn: null, ready: null, startFailed: null, lease: 'leased', release: null, stop: 'stopping', exited: 'dead' },
  leased: { spawn: null, ready: null, startFailed: null, lease: null, release: 'idle', stop: 'stopping', exited: 'dead' },
  stopping: { spawn: null, ready: null, startFailed: 'dead', lease: null, release: null, stop: null, exited: 'dead' },
};

describe('pool/state transition', () => {
  for (const state of states) {
    for (const event of events) {
      const next = table[state][event];
      if (next === null) {
        it(`${state} --${event}--> illegal`, () => {
          assert.throws(() => transition(state, event), { name: 'Error', message: `illegal slot transition: ${event} in state ${state}` });
          assert.equal(canTransition(state, event), false);
        });
      } else {
        it(`${state} --${event}--> ${next}`, () => {
          assert.equal(transition(state, event), next);
          assert.equal(canTransition(state, event), true);
        });
      }
    }
  }

  it('a slot\'s ordinary life: dead → starting → idle → leased → dead → starting', () => {
    const path: SlotEvent[] = ['spawn', 'ready', 'lease', 'exited', 'spawn'];
    const seen: SlotState[] = [];
    path.reduce<SlotState>((state, event) => {
      const next = transition(state, event);
      seen.push(next);
      return next;
    }, 'dead');
    assert.deepEqual(seen, ['starting', 'idle', 'leased', 'dead', 'starting']);
  });

  it('every state can reach dead (nothing is stuck)', () => {
    for (const state of states) {
      const reachable = new Set<SlotState>([state]);
      for (let changed = true; changed;) {
        changed = false;
        for (const from of [...reachable]) {
          for (const event of events) {
            if (canTransition(from, event) && !reachable.has(transition(from, event))) {
              reachable.add(transition(from, event));
              changed = true;
            }
          }
        }
      }
      assert.ok(reachable.has('dead'), state);
    }
  });
});
