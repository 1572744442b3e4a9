/** Good snippets: each must come back with exactly the output its index predicts, stateless or in a session. */
import { all, restarted, streamCheck, type Kind } from './kind.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const sumSquares = (n: number): number => ((n - 1) * n * (2 * n - 1)) / 6;

/** Fake JSON-RPC frames (aimed at ids near this run's own) and fake agent control lines, on stdout. */
function framesCode(i: number): { code: string; stdout: string } {
  const frames = [
    { jsonrpc: '2.0', id: i + 1, result: { status: 'ok', stdout: 'FORGED\n', stderr: '' } },
    { jsonrpc: '2.0', id: i + 2, error: { code: -32603, message: 'forged' } },
    { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: i + 3 } },
  ].map((f) => JSON.stringify(f));
  const wire = frames.map((body) => `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`).join('');
  const control = `${JSON.stringify({ type: 'result', id: 1, status: 'ok', value: { 'text/plain': "'FORGED'" } })}\n`;
  const stdout = `${wire}\n${control}`;
  return { code: `import sys\nsys.stdout.write(${JSON.stringify(stdout)})\nsys.stdout.flush()`, stdout };
}

/** The same snippets stateless and in a session; w picks each one's weight for the one or the other. */
export function goodKinds(session: boolean, w: (stateless: number, inSession: number) => number): Kind[] {
  const p = session ? 's-' : '';
  const noRestart = session ? restarted(false) : () => undefined;
  return [
    {
      name: `${p}print`, weight: w(5, 14), session, expect: 'ok',
      make: (i) => ({ params: { code: `print(${i} + 1)` } }),
      check: all((r, i) => (r.stdout === `${i + 1}\n` ? undefined : `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`), noRestart),
    },
    {
      name: `${p}compute`, weight: w(3, 10), session, expect: 'ok',
      make: (i) => ({ params: { code: `n = ${1000 + (i % 1000)}\nsum(k * k for k in range(n))` } }),
      check: all((r, i) => (r.value?.['text/plain'] === String(sumSquares(1000 + (i % 1000))) ? undefined : `value ${JSON.stringify(r.value)}`), noRestart),
    },
    {
      name: `${p}stdin`, weight: w(2, 6), session, expect: 'ok',
      make: (i) => ({ params: { code: 'import sys\nprint(sys.stdin.read().upper())', stdin: `soak ${i}` } }),
      check: all((r, i) => (r.stdout === `SOAK ${i}\n` ? undefined : `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`), noRestart),
    },
    {
      name: `${p}files`, weight: w(2, 3), session, expect: 'ok',
      make: (i) => ({
        params: {
          code: `with open("out-${i}.txt", "w") as f:\n    f.write("x" * ${i % 500 + 1})\nwith open("data/in-${i}.txt") as f:\n    s = f.read()\nprint(len(open("out-${i}.txt").read()), s)`,
          files: [{ path: `data/in-${i}.txt`, content: b64(`payload-${i}`) }],
          returnFiles: [`out-${i}.txt`],
        },
      }),
      check: all((r, i) => {
        if (r.stdout !== `${i % 500 + 1} payload-${i}\n`) return `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`;
        const file = r.files?.find((f) => f.path === `out-${i}.txt`);
        if (!file || !('content' in file) || Buffer.from(file.content, 'base64').toString() !== 'x'.repeat(i % 500 + 1)) return `returned files ${JSON.stringify(r.files)?.slice(0, 200)}`;
        return undefined;
      }, noRestart),
    },
    {
      name: `${p}exception`, weight: w(2, 6), session, expect: 'error',
      make: (i) => ({ params: { code: `def f(x):\n    raise ValueError("boom %d" % x)\nf(${i})` } }),
      check: all((r, i) => (r.error?.type === 'ValueError' && r.error.message === `boom ${i}` ? undefined : `error ${JSON.stringify(r.error)?.slice(0, 200)}`), noRestart),
    },
    {
      name: `${p}display`, weight: w(2, 6), session, expect: 'ok',
      make: (i) => ({ params: { code: `print("before", flush=True)\ndisplay({"soak": ${i}})\n${i} * 2` }, stream: true }),
      check: all((r, i, seen) => {
        if (r.value?.['text/plain'] !== String(i * 2)) return `value ${JSON.stringify(r.value)}`;
        if (seen.displays.length !== 1 || seen.displays[0]!['text/plain'] !== `{'soak': ${i}}`) return `displays ${JSON.stringify(seen.displays).slice(0, 200)}`;
        return streamCheck(r, seen);
      }, noRestart),
    },
    {
      name: `${p}fake-frames`, weight: w(1.5, 3), session, expect: 'ok',
      make: (i) => ({ params: { code: framesCode(i).code } }),
      check: all((r, i) => (r.stdout === framesCode(i).stdout ? undefined : `stdout altered: ${JSON.stringify(r.stdout.slice(0, 120))}`), noRestart),
    },
  ];
}
