import assert from 'node:assert/strict';
import type { ClientSession } from '../../src/client/index.js';
import { startInProcess, type InProcess } from '../helpers/inproc.js';
import { rejection, withBrokerAndSession } from '../helpers/sessions.js';

const SETUP = `import os
import collections
class Widget:
    colour = 'red'
    _hidden = 1
    def compute(self):
        raise RuntimeError('completion must not call methods')
widget = Widget()
alpha_value = 1
alpha_other = 2
`;

/** session/complete: candidates from the live namespace, positions in code points. */
describe('sessions: completion (real sandbox)', function () {
  this.timeout(30_000);
  let broker: InProcess;
  let s: ClientSession;
  withBrokerAndSession({ poolSize: 1 }, (b, session) => ([broker, s] = [b, session]));
  before(async () => {
    const r = await s.execute(SETUP);
    assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
  });

  const exact: { name: string; code: string; cursor?: number; matches: string[]; start: number; end: number }[] = [
    { name: 'names of the namespace', code: 'alpha_', matches: ['alpha_other', 'alpha_value'], start: 0, end: 6 },
    { name: 'a live object\'s attributes after "obj."', code: 'widget.co', matches: ['colour', 'compute'], start: 7, end: 9 },
    { name: 'a keyword', code: 'whi', matches: ['while'], start: 0, end: 3 },
    { name: 'a builtin', code: 'isinst', matches: ['isinstance'], start: 0, end: 6 },
    { name: 'an attribute of an imported module', code: 'collections.Ord', matches: ['OrderedDict'], start: 12, end: 15 },
    { name: 'the cursor in the middle of the code', code: 'alpha_value + wid', cursor: 3, matches: ['alpha_other', 'alpha_value'], start: 0, end: 3 },
    { name: 'an indented line of a multi-line cell', code: 'x = 1\nif True:\n    widget.com', matches: ['compute'], start: 26, end: 29 },
    { name: 'positions in code points, not UTF-16 units', code: '"😀𝔘" + alpha_v', matches: ['alpha_value'], start: 7, end: 14 },
    { name: 'nothing matches', code: 'zzzq', matches: [], start: 0, end: 4 },
  ];
  for (const row of exact) {
    it(`completes ${row.name}`, async () => {
      const result = await s.complete(row.code, row.cursor);
      assert.deepEqual(result, { matches: row.matches, cursorStart: row.start, cursorEnd: row.end });
    });
  }

  it('"obj." lists public attributes; underscore names only after "_"', async () => {
    const all = await s.complete('widget.');
    assert.ok(all.matches.includes('colour') && all.matches.includes('compute'), JSON.stringify(all));
    assert.ok(!all.matches.some((m) => m.startsWith('_')), JSON.stringify(all));
    assert.deepEqual(all.cursorStart, 7);
    assert.deepEqual(all.cursorEnd, 7);
    const hidden = await s.complete('widget._h');
    assert.deepEqual(hidden.matches, ['_hidden']);
  });

  it('module names after "import "', async () => {
    const r = await s.complete('import collec');
    assert.ok(r.matches.includes('collections'), JSON.stringify(r));
    assert.ok(r.matches.every((m) => m.startsWith('collec')), JSON.stringify(r));
    assert.equal(r.cursorStart, 7);
    assert.equal(r.cursorEnd, 13);
    const attrs = await s.complete('os.pa');
    assert.ok(attrs.matches.includes('path') && attrs.matches.includes('pathsep'), JSON.stringify(attrs));
  });

  it('names defined by a later execute appear; completion waits for the run queued before it', async () => {
    const running = s.execute('import time\ntime.sleep(0.3)\nlate_binding = 3');
    const r = await s.complete('late_b');
    assert.deepEqual(r, { matches: ['late_binding'], cursorStart: 0, cursorEnd: 6 });
    assert.equal((await running).status, 'ok');
  });

  it('completion has no side effects on the namespace', async () => {
    await s.complete('widget.compute().');
    await s.complete('undefined_thing.');
    const r = await s.execute("sorted(n for n in globals() if n.startswith('alpha'))");
    assert.deepEqual(r.value, { 'text/plain': "['alpha_other', 'alpha_value']" });
  });

  it('a cursor past the end is -32602 naming params.cursor; an unknown session is -32011', async () => {
    const c = broker.client.connection;
    const past = await rejection(c.sendRequest('session/complete', { session: s.id, code: 'ab', cursor: 3 }));
    assert.equal(past.code, -32602);
    assert.equal(past.data?.field, 'params.cursor');
    const unknown = await rejection(c.sendRequest('session/complete', { session: 's-unknown', code: 'ab', cursor: 2 }));
    assert.equal(unknown.code, -32011);
    assert.equal(unknown.data?.reason, 'no session with this id was opened');
  });
});
