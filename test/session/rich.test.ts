import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { ClientSession, ExecuteResult, MimeBundle } from '../../src/client/index.js';
import { withBrokerAndSession, withoutMarkers } from '../helpers/sessions.js';

const PNG_BYTES = '\x89PNG\r\n\x1a\nabc';
const CLASS = (body: string): string => `class R:\n    def __repr__(self):\n        return 'R()'\n${body}\n`;

/** Rich values (IPython's display protocol), display(), figures and tracebacks in a session. */
describe('sessions: rich output and tracebacks (real sandbox)', function () {
  this.timeout(30_000);
  let s: ClientSession;
  withBrokerAndSession({ poolSize: 1 }, (_, session) => (s = session));

  const bundleRows: { name: string; code: string; expect: Record<string, string>; json?: Record<string, unknown> }[] = [
    { name: 'a plain value is text/plain only', code: "{'a': 1}", expect: { 'text/plain': "{'a': 1}" } },
    { name: '_repr_html_ → text/html', code: CLASS("    def _repr_html_(self):\n        return '<b>hi</b>'") + 'R()', expect: { 'text/plain': 'R()', 'text/html': '<b>hi</b>' } },
    { name: '_repr_markdown_ → text/markdown', code: CLASS("    def _repr_markdown_(self):\n        return '**hi**'") + 'R()', expect: { 'text/plain': 'R()', 'text/markdown': '**hi**' } },
    { name: '_repr_svg_ → image/svg+xml', code: CLASS("    def _repr_svg_(self):\n        return '<svg xmlns=\"http://www.w3.org/2000/svg\"/>'") + 'R()', expect: { 'text/plain': 'R()', 'image/svg+xml': '<svg xmlns="http://www.w3.org/2000/svg"/>' } },
    { name: '_repr_png_ bytes → base64 image/png', code: CLASS("    def _repr_png_(self):\n        return b'\\x89PNG\\r\\n\\x1a\\nabc'") + 'R()', expect: { 'text/plain': 'R()', 'image/png': Buffer.from(PNG_BYTES, 'latin1').toString('base64') } },
    { name: '_repr_json_ → application/json (JSON text)', code: CLASS("    def _repr_json_(self):\n        return {'a': [1, 2], 'b': None}") + 'R()', expect: { 'text/plain': 'R()' }, json: { 'application/json': { a: [1, 2], b: null } } },
    { name: '(data, metadata) from a _repr_*_ keeps the data', code: CLASS("    def _repr_html_(self):\n        return ('<p>t</p>', {'isolated': True})") + 'R()', expect: { 'text/plain': 'R()', 'text/html': '<p>t</p>' } },
    { name: 'a _repr_html_ that raises is skipped', code: CLASS('    def _repr_html_(self):\n        raise ValueError("no")') + 'R()', expect: { 'text/plain': 'R()' } },
    { name: 'a class itself is not asked for rich reprs', code: CLASS("    def _repr_html_(self):\n        return '<b>x</b>'") + 'R', expect: { 'text/plain': "<class '__main__.R'>" } },
    {
      name: '_repr_mimebundle_ wins over _repr_html_ and may carry any type',
      code: CLASS("    def _repr_html_(self):\n        return '<b>loser</b>'\n    def _repr_mimebundle_(self, include=None, exclude=None):\n        return {'text/html': '<i>winner</i>', 'text/markdown': '*m*', 'application/vnd.custom+json': {'k': 1}}") + 'R()',
      expect: { 'text/plain': 'R()', 'text/html': '<i>winner</i>', 'text/markdown': '*m*' }, json: { 'application/vnd.custom+json': { k: 1 } },
    },
  ];
  for (const row of bundleRows) {
    it(`value bundle: ${row.name}`, async () => {
      const r = await s.execute(row.code);
      assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
      const value = { ...r.value } as Record<string, string>;
      for (const [mime, parsed] of Object.entries(row.json ?? {})) {
        assert.equal(typeof value[mime], 'string', `${mime} in ${JSON.stringify(value)}`);
        assert.deepEqual(JSON.parse(value[mime]!), parsed, mime);
        delete value[mime];
      }
      assert.deepEqual(value, row.expect);
    });
  }

  it('display() arrives mid-run: before output printed later and before the result', async () => {
    const events: string[] = [];
    const r = await s.execute('display(1)\nimport time\ntime.sleep(0.3)\nprint("end")\ntime.sleep(0.2)', {
      onOutput: (_stream, text) => events.push(text),
      onDisplay: (data) => events.push(`display:${data['text/plain']}`),
    });
    assert.equal(r.status, 'ok');
    assert.deepEqual(events.join(''), 'display:1end\n');
  });

  // Output and displays travel on different pipes: output printed before display() always precedes it (the
  // agent flushes first); output printed right after it may be read first. protocol/README.md says so.
  it('display() sends each bundle in order, after the output written before it', async () => {
    const events: string[] = [];
    let settled = false;
    let lateDisplays = 0;
    const r = await s.execute(
      CLASS("    def _repr_html_(self):\n        return '<b>R</b>'") + 'print("one")\ndisplay(R())\nprint("two")\ndisplay(1, "x")\nimport time\ntime.sleep(0.3)',
      {
        onOutput: (stream, text) => {
          const last = events.at(-1);
          if (last?.startsWith(`${stream}:`)) events[events.length - 1] = last + text; // print() may arrive in pieces
          else events.push(`${stream}:${text}`);
        },
        onDisplay: (data) => {
          lateDisplays += settled ? 1 : 0;
          events.push(`display:${JSON.stringify(data)}`);
        },
      },
    ).finally(() => (settled = true));
    assert.equal(r.status, 'ok');
    assert.equal(r.stdout, 'one\ntwo\n');
    assert.equal(r.value, undefined, 'display() returns None');
    assert.equal(lateDisplays, 0, 'displays must arrive while the run is in progress');
    assert.match(events[0] ?? '', /^stdout:one\n/, 'output printed before the first display() comes first');
    assert.deepEqual(events.filter((e) => e.startsWith('display:')), [
      `display:${JSON.stringify({ 'text/plain': 'R()', 'text/html': '<b>R</b>' })}`,
      `display:${JSON.stringify({ 'text/plain': '1' })}`,
      `display:${JSON.stringify({ 'text/plain': "'x'" })}`,
    ]);
    assert.equal(events.filter((e) => e.startsWith('stdout:')).map((e) => e.slice(7)).join(''), 'one\ntwo\n');
  });

  describe('matplotlib figures', () => {
    before(function () {
      const probe = spawnSync('/usr/bin/python3', ['-c', 'import matplotlib'], { encoding: 'utf8' });
      if (probe.status !== 0) {
        console.log(`      skipped: matplotlib is not installed for /usr/bin/python3 (${probe.stderr.trim().split('\n').at(-1)})`);
        this.skip();
      }
    });

    const figuresOf = async (code: string): Promise<{ r: ExecuteResult; shown: MimeBundle[]; order: string[] }> => {
      const shown: MimeBundle[] = [];
      const order: string[] = [];
      const r = await s.execute(code, { onDisplay: (d) => (shown.push(d), order.push('display')), onOutput: (_s, text) => order.push(text) });
      assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 1500));
      return { r, shown, order };
    };
    /** Width and height from the PNG's IHDR chunk, after checking the signature. */
    const pngSize = (base64: string | undefined): [number, number] => {
      assert.equal(typeof base64, 'string');
      const png = Buffer.from(base64!, 'base64');
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
      assert.equal(png.toString('latin1', 12, 16), 'IHDR');
      return [png.readUInt32BE(16), png.readUInt32BE(20)];
    };

    it('a figure left open at the end of a cell is displayed as image/png, once', async () => {
      const { r, shown } = await figuresOf('import matplotlib.pyplot as plt\n_ = plt.plot([1, 2, 3])');
      assert.equal(r.value, undefined);
      assert.equal(shown.length, 1);
      assert.deepEqual(Object.keys(shown[0]!).sort(), ['image/png', 'text/plain']);
      assert.equal(shown[0]!['text/plain'], '<Figure size 640x480 with 1 Axes>');
      assert.deepEqual(pngSize(shown[0]!['image/png']), [640, 480]);
      const next = await figuresOf('1 + 1');
      assert.deepEqual(next.shown, [], 'a displayed figure is closed, not shown again');
    });

    it('plt.show() displays mid-cell, before later output; figures come in order', async () => {
      const { shown, order } = await figuresOf('import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 1))\n_ = plt.plot([0, 1])\nplt.show()\nprint("after show")');
      assert.deepEqual(order.map((e) => e.trim()).filter((e) => e !== ''), ['display', 'after show']); // print() may arrive as one chunk or two
      assert.equal(shown.length, 1);
      assert.equal(shown[0]!['text/plain'], '<Figure size 200x100 with 1 Axes>');
      assert.deepEqual(pngSize(shown[0]!['image/png']), [200, 100]);
      const two = await figuresOf('plt.figure(figsize=(1, 1))\n_ = plt.plot([0])\n_ = plt.figure(figsize=(3, 2))');
      assert.deepEqual(two.shown.map((d) => d['text/plain']), ['<Figure size 100x100 with 1 Axes>', '<Figure size 300x200 with 0 Axes>']);
      assert.deepEqual(two.shown.map((d) => pngSize(d['image/png'])), [[100, 100], [300, 200]]);
    });
  });

  describe('tracebacks name cells', () => {
    it('a function defined in one cell and failing in another shows both cells and their source lines', async () => {
      const defined = await s.execute('# helper\ndef g(d):\n    q = 10\n    return q // d\n');
      assert.equal(defined.status, 'ok');
      const failed = await s.execute('a = 1\ng(0)');
      const [n1, n2] = [defined.executionCount, failed.executionCount];
      assert.equal(n2, n1! + 1);
      assert.equal(failed.status, 'error');
      assert.equal(failed.error?.type, 'ZeroDivisionError');
      assert.equal(failed.error?.message, 'integer division or modulo by zero');
      assert.deepEqual(withoutMarkers(failed.error!.traceback), [
        'Traceback (most recent call last):',
        `  File "<cell-${n2}>", line 2, in <module>`,
        '    g(0)',
        `  File "<cell-${n1}>", line 4, in g`,
        '    return q // d',
        'ZeroDivisionError: integer division or modulo by zero',
      ]);
    });

    it('an error at the top level of a cell names that cell and line', async () => {
      const r = await s.execute('a = 1\nb = [][a]');
      assert.equal(r.error?.type, 'IndexError');
      assert.deepEqual(withoutMarkers(r.error!.traceback), [
        'Traceback (most recent call last):',
        `  File "<cell-${r.executionCount}>", line 2, in <module>`,
        '    b = [][a]',
        'IndexError: list index out of range',
      ]);
    });

    it('a SyntaxError shows <cell-N>, the line and the caret', async () => {
      const r = await s.execute('x = (1,\n');
      assert.equal(r.status, 'error');
      assert.equal(r.error?.type, 'SyntaxError');
      assert.equal(r.error?.message, "'(' was never closed");
      assert.deepEqual(r.error?.traceback, [`  File "<cell-${r.executionCount}>", line 1`, '    x = (1,', '        ^', "SyntaxError: '(' was never closed"]);
    });

    it('an IndentationError names its line in <cell-N>', async () => {
      const r = await s.execute('for i in range(3):\nprint(i)');
      assert.equal(r.error?.type, 'IndentationError');
      assert.equal(r.error?.message, "expected an indented block after 'for' statement on line 1");
      const lines = r.error!.traceback;
      assert.equal(lines[0], `  File "<cell-${r.executionCount}>", line 2`);
      assert.equal(lines[1], '    print(i)');
      assert.equal(lines.at(-1), "IndentationError: expected an indented block after 'for' statement on line 1");
    });
  });
});
