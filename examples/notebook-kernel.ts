/**
 * How a notebook kernel (or an editor's REPL) drives pycell through the client library: one session per
 * notebook, cells executed in order with In [n] numbering, streamed output and rich display, input()
 * answered by the "user", completion, an interrupt that keeps the namespace, and a restart.
 *
 *   npm run build && node dist/examples/notebook-kernel.js
 */
import { spawnBroker, type ExecuteResult, type MimeBundle } from '../src/client/index.js';

const broker = await spawnBroker({ initialize: { clientInfo: { name: 'notebook-example' }, capabilities: { interactiveInput: true } } });
const notebook = await broker.openSession({ timeoutMs: 30_000 });

/** A front end shows rich output by the richest MIME type it can render; a terminal shows text and names the rest. */
function show(data: MimeBundle): string {
  const extra = Object.keys(data).filter((type) => type !== 'text/plain');
  return `${data['text/plain']}${extra.length ? `   [also: ${extra.join(', ')}]` : ''}`;
}

/** Runs one cell as a kernel would: output and displays as they arrive, then Out[n] or the traceback. */
async function cell(code: string, options: { signal?: AbortSignal; answers?: string[] } = {}): Promise<ExecuteResult> {
  const answers = [...(options.answers ?? [])];
  const result = await notebook.execute(code, {
    onOutput: (stream, text) => process.stdout.write(stream === 'stderr' ? `\x1b[31m${text}\x1b[0m` : text),
    onDisplay: (data) => console.log(`<display> ${show(data)}`),
    onInput: ({ prompt, password }) => {
      const answer = answers.shift() ?? null; // null: the user pressed Ctrl-D (EOFError)
      console.log(`<input ${password ? '(hidden) ' : ''}"${prompt}"> ${password ? '****' : answer}`);
      return answer;
    },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const n = result.executionCount ?? '?';
  console.log(`In [${n}]: ${code.split('\n').join('\n   ...: ')}`);
  if (result.value) console.log(`Out[${n}]: ${show(result.value)}`);
  if (result.error) console.log(result.error.traceback.join('\n'));
  if (result.status !== 'ok' && result.status !== 'error') console.log(`[${result.status}] ${result.message ?? ''}`);
  if (result.sessionRestarted) console.log('[the kernel was restarted: earlier variables are gone]');
  console.log(`(${result.usage.wallMs.toFixed(2)} ms)\n`);
  return result;
}

await cell('import math\nradius = 2\nprint("computing")\nmath.pi * radius ** 2');
await cell('class Table:\n    def _repr_html_(self):\n        return "<table><tr><td>1</td></tr></table>"\n    def __repr__(self):\n        return "Table(1 row)"\nTable()');
await cell('display({"a": 1}, "a display mid-run")\nradius + 1');
await cell('def area(r):\n    return math.pi * r ** 2 / zero\narea(radius)');
await cell('name = input("Your name? ")\nimport getpass\nsecret = getpass.getpass()\nf"hello {name}, {len(secret)} characters"', { answers: ['Ada', 'hunter2'] });
await cell('try:\n    import matplotlib.pyplot as plt\n    plt.plot([1, 4, 9])\nexcept ImportError:\n    print("matplotlib is not installed for the sandbox\'s Python")');

const completion = await notebook.complete('math.fl');
console.log(`complete "math.fl" → ${JSON.stringify(completion.matches)} replacing [${completion.cursorStart}, ${completion.cursorEnd})\n`);

// The user presses "interrupt" half a second into a long cell: KeyboardInterrupt, and the namespace survives.
const stop = new AbortController();
setTimeout(() => stop.abort(), 500);
await cell('import time\nfor i in range(100):\n    print("step", i)\n    time.sleep(0.2)', { signal: stop.signal });
await cell('radius');

await notebook.restart();
await cell('"radius" in globals()');

await notebook.close();
await broker.close();
