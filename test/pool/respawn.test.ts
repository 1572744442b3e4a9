import assert from 'node:assert/strict';
import { FAILURES_BEFORE_UNAVAILABLE, initialBrake, isUnavailable, onStarted, onStartFailed, respawnDelayMs } from '../../src/pool/respawn.js';

describe('pool/respawn brake', () => {
  // (consecutive failures → delay before the next spawn, unavailable?): at once, then doubling from 100 ms, capped at 10 s.
  const rows: [failures: number, delayMs: number, unavailable: boolean][] = [
    [0, 0, false],
    [1, 100, false],
    [2, 200, false],
    [3, 400, true],
    [4, 800, true],
    [5, 1600, true],
    [6, 3200, true],
    [7, 6400, true],
    [8, 10_000, true],
    [9, 10_000, true],
    [50, 10_000, true],
    [5000, 10_000, true],
  ];
  for (const [failures, delayMs, unavailable] of rows) {
    it(`${failures} failures → wait ${delayMs} ms, ${unavailable ? 'unavailable' : 'available'}`, () => {
      const state = { failures, lastError: failures ? 'x' : undefined };
      assert.equal(respawnDelayMs(state), delayMs);
      assert.equal(isUnavailable(state), unavailable);
    });
  }

  it('the threshold is three failures in a row', () => assert.equal(FAILURES_BEFORE_UNAVAILABLE, 3));

  it('failures accumulate with the latest reason, without changing the previous state', () => {
    const one = onStartFailed(initialBrake, 'bwrap: setting up uid map: Permission denied');
    const two = onStartFailed(one, 'bwrap: No permissions to create new namespace');
    assert.deepEqual(initialBrake, { failures: 0, lastError: undefined });
    assert.deepEqual(one, { failures: 1, lastError: 'bwrap: setting up uid map: Permission denied' });
    assert.deepEqual(two, { failures: 2, lastError: 'bwrap: No permissions to create new namespace' });
  });

  it('a successful start releases the brake entirely', () => {
    let state = initialBrake;
    for (let i = 0; i < 5; i++) state = onStartFailed(state, `failure ${i}`);
    assert.equal(isUnavailable(state), true);
    state = onStarted();
    assert.deepEqual(state, { failures: 0, lastError: undefined });
    assert.equal(respawnDelayMs(state), 0);
    assert.equal(isUnavailable(state), false);
  });
});
