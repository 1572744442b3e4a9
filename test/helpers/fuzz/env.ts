/** The fuzz's knobs, read from the environment once (described in test/rpc/fuzz.test.ts), and its fixed sizes. */
import { fileURLToPath } from 'node:url';

export const CLI = process.env.PYCELL_FUZZ_CLI ?? fileURLToPath(new URL('../../../src/cli.js', import.meta.url)); // another build, to check the checker
export const SEED = Number(process.env.PYCELL_FUZZ_SEED ?? 20261123);
export const RUNS = Number(process.env.PYCELL_FUZZ_RUNS ?? 200);
/** A path fast-check printed, to replay one failing run. */
export const REPLAY_PATH = process.env.PYCELL_FUZZ_PATH;
/**
 * Generate the inputs of the two bugs this fuzz found (A: cancels without a usable id crashed the
 * broker; B: a second request with the id of one in flight was dropped). Both are fixed; set
 * PYCELL_FUZZ_SKIP_FIXED=1 to leave them out when bisecting something else.
 */
export const KNOWN_BUGS = process.env.PYCELL_FUZZ_SKIP_FIXED !== '1';
export const KNOWN_DUPLICATES = KNOWN_BUGS;
export const VERBOSE = process.env.PYCELL_FUZZ_VERBOSE === '1';
export const CASE_TIMEOUT_MS = 15_000;
export const MiB = 1024 * 1024;
