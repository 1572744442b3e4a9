/** The order of the soak: which kind each request is, drawn from a seed so that a run can be replayed. */
import type { Kind } from './kind.js';

export interface PlanItem {
  readonly kind: Kind;
  /** Which of the open sessions runs it (ignored by stateless kinds). */
  readonly session: number;
  /** Passed to kind.make, for kinds that vary (a cancel delay). */
  readonly r: number;
}

/** mulberry32: small, fast, good enough for a test mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function plan(kinds: readonly Kind[], runs: number, sessions: number, seed: number): PlanItem[] {
  const random = prng(seed);
  const total = kinds.reduce((s, k) => s + k.weight, 0);
  const out: PlanItem[] = [];
  for (let i = 0; i < runs; i++) {
    let x = random() * total;
    let kind = kinds[kinds.length - 1]!;
    for (const k of kinds) {
      if (x < k.weight) {
        kind = k;
        break;
      }
      x -= k.weight;
    }
    // Three draws per item whatever its kind: a seed replays the same plan as long as the weights are unchanged.
    out.push({ kind, session: Math.floor(random() * sessions), r: random() });
  }
  return out;
}
