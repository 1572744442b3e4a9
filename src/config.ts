import { z } from 'zod';
import { defaultLimits, defaultMaximums, limitNames, type LimitName, type Limits } from './protocol/limits.js';
import { checkLimit } from './limits.js';
import { BrokerError, ErrorCode } from './errors.js';

const MiB = 1024 * 1024;

const limitOverrides = z.strictObject(Object.fromEntries(limitNames.map((n) => [n, z.number().optional()])) as Record<LimitName, z.ZodOptional<z.ZodNumber>>);

/** Sandbox paths the sandbox's own layout owns (policy.ts): an operator's bind may not cover them. */
const RESERVED = ['/proc', '/dev', '/tmp', '/pycell'];
const absolutePath = z.string().min(2).max(4096).regex(/^\/[^\0]*$/, 'must be an absolute path').refine((p) => !p.split('/').includes('..'), 'must not contain ".."');
const sandboxPath = absolutePath.refine((p) => !RESERVED.some((r) => p === r || p.startsWith(`${r}/`)), `must not be under ${RESERVED.join(', ')}`);
const moduleName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'must be a dotted module name').max(256);

/** The operator's configuration: a config file and CLI flags, never a client. */
export const configSchema = z.strictObject({
  python: z.string().min(1).default('/usr/bin/python3'),
  bwrap: z.string().min(1).default('bwrap'),
  sandboxUids: z.strictObject({ first: z.number().int().positive().max(0xfffe0000), count: z.number().int().min(1).max(65536) })
    .default({ first: 1_800_000_000, count: 4096 })
    .describe('host uids (and gids) for sandboxes when the broker is root: one per live sandbox, so RLIMIT_NPROC counts that sandbox alone'),
  cgroups: z.enum(['auto', 'off']).default('auto').describe('per-sandbox cgroups where the host offers them (auto), or never (off)'),
  readOnlyBinds: z.array(z.strictObject({ source: absolutePath, dest: sandboxPath })).max(64).default([])
    .describe('host directories or files bound read-only into every sandbox (a dataset, a package directory)'),
  modulePolicy: z.strictObject({ deny: z.array(moduleName).max(1024).default([]), allow: z.array(moduleName).max(4096).nullable().default(null) })
    .default({ deny: [], allow: null })
    .describe('advisory: imports refused inside the agent (ctypes and native code bypass it; the OS layers are the boundary)'),
  poolSize: z.number().int().min(1).max(256).default(4),
  isolation: z.enum(['sandbox', 'process']).default('sandbox')
    .describe('stateless executes by default: a fresh sandbox per run (sandbox), or a fresh process per run in a reused sandbox (process); a client may always ask for sandbox'),
  processRuns: z.number().int().min(1).max(1_000_000).default(1000).describe('process isolation: runs one sandbox serves before it is replaced'),
  maxQueue: z.number().int().min(0).max(100_000).default(256),
  workspaceBytes: z.number().int().min(MiB).max(64 * 1024 * MiB).default(64 * MiB),
  shmBytes: z.number().int().min(64 * 1024).max(1024 * MiB).default(16 * MiB),
  reprLimit: z.number().int().min(64).max(16 * MiB).default(64 * 1024),
  maxClientBacklogBytes: z.number().int().min(64 * 1024).max(1024 * MiB).default(8 * MiB)
    .describe('output-notification bytes waiting for a client that does not read, past which further ones are dropped'),
  maxSessions: z.number().int().min(0).max(1024).default(8).describe('sessions that may be open at once (each holds one sandbox)'),
  sessionIdleMs: z.number().int().min(100).max(7 * 24 * 3600_000).default(30 * 60_000).describe('a session with nothing to run for this long is closed'),
  interruptGraceMs: z.number().int().min(10).max(60_000).default(1000).describe('how long interrupted session code may take to yield before its worker is killed'),
  completionTimeoutMs: z.number().int().min(10).max(60_000).default(2000),
  startTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('a sandbox not ready this long after its spawn is killed and counted a start failure'),
  agentDir: absolutePath.optional().describe('another agent to run in the sandboxes (a directory with main.py): for testing the broker with stand-in agents'),
  monitorIntervalMs: z.number().int().min(5).max(10_000).default(50),
  allowWeakIsolation: z.boolean().default(false),
  network: z.enum(['none', 'host']).default('none'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  logFile: z.string().optional(),
  limits: z.strictObject({ defaults: limitOverrides.default({}), maximums: limitOverrides.default({}) }).default({ defaults: {}, maximums: {} }),
});
export type ConfigInput = z.input<typeof configSchema>;

export interface Config extends Readonly<Omit<z.output<typeof configSchema>, 'limits'>> {
  readonly limits: { readonly defaults: Limits; readonly maximums: Limits };
}

/** Validates and defaults the operator's settings once; everything downstream trusts the result. */
export function makeConfig(input: unknown): Config {
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') throw configError([...path, issue.keys[0]!].join('.'), `is not a known setting (${issue.message})`);
    throw configError(path.join('.'), issue.message);
  }
  const { limits, ...rest } = parsed.data;
  const maximums = { ...defaultMaximums } as Record<LimitName, number>;
  for (const name of limitNames) {
    const max = limits.maximums[name];
    if (max !== undefined) maximums[name] = checkConfigLimit(`limits.maximums.${name}`, max, Number.MAX_SAFE_INTEGER);
  }
  const defaults = {} as Record<LimitName, number>;
  for (const name of limitNames) {
    const wanted = limits.defaults[name];
    defaults[name] = wanted === undefined ? Math.min(defaultLimits[name], maximums[name]) : checkConfigLimit(`limits.defaults.${name}`, wanted, maximums[name]);
  }
  return Object.freeze({ ...rest, limits: Object.freeze({ defaults: Object.freeze(defaults), maximums: Object.freeze(maximums) }) });
}

function configError(field: string, why: string): BrokerError {
  return new BrokerError(ErrorCode.InvalidParams, `config ${field || '(root)'}: ${why}`, { field });
}

/** The same rules as a client's limits, reported as a config error naming the setting. */
function checkConfigLimit(field: string, value: number, maximum: number): number {
  try {
    return checkLimit(field, value, maximum);
  } catch (error) {
    throw configError(field, (error as Error).message.slice(field.length + 2));
  }
}
