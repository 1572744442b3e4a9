/** The failure of one case: what was wrong, and the exact stdin bytes to reproduce it. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiB, SEED } from './env.js';
import { dump, short } from './show.js';

export function caseFailure(problems: string[], segments: Buffer[]): assert.AssertionError {
  const wire = Buffer.concat(segments.filter((s) => s.length < 8 * MiB));
  // Overwritten by each failing run: after shrinking it holds the reported (smallest) counterexample.
  const file = join(tmpdir(), `pycell-fuzz-${SEED}-failing-case.bin`);
  writeFileSync(file, wire);
  const shown = segments.map((s) => `  ${s.length >= 8 * MiB ? `<${s.length} bytes of the oversized body>` : dump(s, 600)}`).join('\n');
  return new assert.AssertionError({
    message: `broker contract violated (seed ${SEED}):\n- ${problems.map((p) => short(p, 2000)).join('\n- ')}\nstdin bytes of this case, in order (also in ${file}, without any oversized body):\n${shown}`,
  });
}
