import assert from 'node:assert/strict';
import { UidPool } from '../../src/sandbox/uids.js';

describe('sandbox/uids', () => {
  it('hands out the lowest free uid, each to one sandbox at a time', () => {
    const pool = new UidPool(1000, 3);
    assert.deepEqual([pool.acquire(), pool.acquire()], [1000, 1001]);
    pool.release(1000);
    assert.equal(pool.acquire(), 1000);
    assert.equal(pool.acquire(), 1002);
    assert.equal(pool.inUse, 3);
  });

  it('refuses when the range is used up, rather than sharing a uid', () => {
    const pool = new UidPool(5000, 1);
    pool.acquire();
    assert.throws(() => pool.acquire(), /all 1 sandbox uids \(5000-5000\) are in use/);
  });

  it('a release of a uid that is not out (twice, or foreign) changes nothing', () => {
    const pool = new UidPool(10, 2);
    const uid = pool.acquire();
    pool.release(uid);
    pool.release(uid);
    pool.release(99);
    assert.deepEqual([pool.acquire(), pool.acquire()], [10, 11]);
    assert.throws(() => pool.acquire());
  });
});
