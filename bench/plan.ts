/**
 * What the bench sends and how much of it: the four snippets every path runs, what each must answer,
 * and the iteration counts and pacing of a full and a --quick run.
 */

export type SnippetName = 'print' | 'sum' | 'def100' | 'print1MB';

export interface Snippet {
  readonly name: SnippetName;
  readonly label: string;
  readonly code: string;
  /** Exact stdout, or only its length when it is large. */
  readonly stdout: string | { readonly length: number };
  /** The last expression's repr where the path reports one (pycell, Jupyter); peers print nothing for it. */
  readonly value?: string;
}

/** def f(x): and 99 more lines, never called: the cost of compiling a cell of realistic size. */
export function makeDef100(): string {
  const body = Array.from({ length: 98 }, (_, i) => `    v${i} = ${i === 0 ? 'x' : `v${i - 1}`} * 3 + ${i} - (x // 7)`);
  return ['def f(x):', ...body, '    return v97', ''].join('\n');
}

export const MB_BYTES = 1_000_000;

export const snippets: readonly Snippet[] = [
  { name: 'print', label: 'print(1+1)', code: 'print(1+1)', stdout: '2\n' },
  { name: 'sum', label: 'sum(range(10**5))', code: 'sum(range(10**5))', stdout: '', value: '4999950000' },
  { name: 'def100', label: '100-line def', code: makeDef100(), stdout: '' },
  // 999,999 x and a newline: exactly 1 MB of stdout.
  { name: 'print1MB', label: 'print 1 MB', code: `print('x' * ${MB_BYTES - 1})`, stdout: { length: MB_BYTES } },
];

/** What a path saw, enough to check it without shipping 1 MB around (the Jupyter driver sends this). */
export interface Seen {
  readonly stdoutLength: number;
  readonly stdoutHead: string;
  readonly value?: string;
}

export function seen(stdout: string, value?: string): Seen {
  return { stdoutLength: stdout.length, stdoutHead: stdout.slice(0, 64), value };
}

/** Throws unless the path answered what the snippet must produce. */
export function check(snippet: Snippet, got: Seen, where: string): void {
  const want = snippet.stdout;
  const ok = typeof want === 'string'
    ? got.stdoutLength === want.length && got.stdoutHead === want.slice(0, 64)
    : got.stdoutLength === want.length && /^x+$/.test(got.stdoutHead);
  const valueOk = snippet.value === undefined || got.value === undefined || got.value === snippet.value;
  if (!ok || !valueOk) {
    throw new Error(`${where}: ${snippet.label} answered ${JSON.stringify(got).slice(0, 200)}`);
  }
}

/** fast: warm paths paced every fastPeriodMs; paced: stateless paths every statelessPeriodMs; cold: ~20 ms a request. */
export type PathKind = 'fast' | 'paced' | 'cold';
type Counts = { readonly print: number; readonly other: number };

export interface Plan {
  readonly quick: boolean;
  /** Requests per snippet one at a time, for print(1+1) and for each other snippet, by kind of path. */
  readonly iterations: Readonly<Record<PathKind, Counts>>;
  readonly warmup: number;
  /** Start-to-start period of the low-load loops (floor, sessions, Jupyter) and of stateless/cold ones. */
  readonly fastPeriodMs: number;
  readonly statelessPeriodMs: number;
  /** Saturated: seconds measured at each concurrency level (after a short ramp). */
  readonly saturateSeconds: number;
  readonly levels: readonly number[];
}

export function makePlan(quick: boolean): Plan {
  return quick
    ? { quick, iterations: { fast: { print: 60, other: 20 }, paced: { print: 40, other: 12 }, cold: { print: 20, other: 8 } }, warmup: 10, fastPeriodMs: 5, statelessPeriodMs: 25, saturateSeconds: 0.75, levels: [2, 8] }
    : { quick, iterations: { fast: { print: 300, other: 100 }, paced: { print: 200, other: 60 }, cold: { print: 100, other: 40 } }, warmup: 30, fastPeriodMs: 5, statelessPeriodMs: 25, saturateSeconds: 2, levels: [1, 2, 4, 8, 16] };
}

export function iterationsFor(plan: Plan, kind: PathKind, snippet: Snippet): number {
  return snippet.name === 'print' ? plan.iterations[kind].print : plan.iterations[kind].other;
}

export function periodFor(plan: Plan, kind: PathKind): number {
  return kind === 'fast' ? plan.fastPeriodMs : plan.statelessPeriodMs;
}
