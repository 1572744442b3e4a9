import assert from 'node:assert/strict';
import { BrokerError } from '../../src/errors.js';

/** Asserts that fn throws -32602 with exactly this message and data. */
export function throwsInvalid(fn: () => unknown, message: string, data: { field: string; value: unknown }): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BrokerError, `not a BrokerError: ${String(error)}`);
    assert.equal(error.code, -32602);
    assert.equal(error.message, message);
    assert.deepEqual(error.data, data);
    return true;
  });
}
