import { z } from 'zod';
import { partialLimitsSchema } from './limits.js';

/** Largest `code` the broker accepts, in UTF-16 code units as received. */
export const MAX_CODE_LENGTH = 4 * 1024 * 1024;
/** Largest `stdin`, and the most files one execute may carry. */
export const MAX_STDIN_LENGTH = 16 * 1024 * 1024;
export const MAX_FILES = 256;

export const tokenSchema = z.union([z.string().max(256), z.number().int()]);

export const fileInSchema = z.strictObject({
  path: z.string().min(1).max(4096),
  content: z.string().max(64 * 1024 * 1024).describe('base64'),
});

export const executeParamsSchema = z.strictObject({
  code: z.string().max(MAX_CODE_LENGTH),
  session: z.string().min(1).max(128).optional(),
  stdin: z.string().max(MAX_STDIN_LENGTH).optional(),
  limits: partialLimitsSchema.optional(),
  files: z.array(fileInSchema).max(MAX_FILES).optional(),
  outputToken: tokenSchema.optional(),
  isolation: z.enum(['sandbox', 'process']).optional()
    .describe('stateless executes: sandbox (a fresh sandbox for this run) may always be asked for; process (a fresh process in a reused sandbox) only when it is the operator\'s default. Not with session'),
  returnFiles: z.union([z.boolean(), z.array(z.string().min(1).max(256)).min(1).max(32)]).optional()
    .describe('true: return the regular files this run created or changed in the working directory; a list of fnmatch patterns (matched against the relative path; * also matches /): only those'),
});
export type ExecuteParams = z.infer<typeof executeParamsSchema>;

export const statuses = ['ok', 'error', 'timeout', 'cpu_limit', 'memory_limit', 'output_limit', 'cancelled', 'crashed'] as const;
export type Status = (typeof statuses)[number];

/** A MIME bundle: text/plain always, other types when the object offers them. */
export const mimeBundleSchema = z.object({ 'text/plain': z.string() }).catchall(z.string());
export type MimeBundle = z.infer<typeof mimeBundleSchema>;

export const runErrorSchema = z.object({
  type: z.string(),
  message: z.string(),
  traceback: z.array(z.string()),
});
export type RunError = z.infer<typeof runErrorSchema>;

export const usageSchema = z.object({
  wallMs: z.number().nonnegative(),
  cpuMs: z.number().nonnegative(),
  peakMemoryBytes: z.number().int().nonnegative(),
});
export type Usage = z.infer<typeof usageSchema>;

export const executeResultSchema = z.object({
  status: z.enum(statuses),
  stdout: z.string(),
  stderr: z.string(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  value: mimeBundleSchema.optional(),
  error: runErrorSchema.optional(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  usage: usageSchema,
  message: z.string().optional().describe('why the broker ended the run, in words (for every status but ok and error)'),
  files: z.array(z.union([
    z.object({ path: z.string(), size: z.number().int(), content: z.string().describe('base64') }),
    z.object({ path: z.string(), error: z.string().describe('why this file (or, past a bound, the rest) is not returned') }),
  ])).optional().describe('with returnFiles, when the agent reported (status ok or error)'),
  audit: z.object({
    events: z.array(z.object({ event: z.string(), detail: z.string(), count: z.number().int() })),
    dropped: z.number().int(),
  }).optional().describe('advisory: security-relevant events the agent\'s audit hook saw (user code can evade it)'),
  session: z.string().optional(),
  executionCount: z.number().int().positive().optional(),
  sessionRestarted: z.boolean().optional(),
});
export type ExecuteResult = z.infer<typeof executeResultSchema>;

export const outputParamsSchema = z.object({
  token: tokenSchema,
  stream: z.enum(['stdout', 'stderr']),
  text: z.string(),
});
export type OutputParams = z.infer<typeof outputParamsSchema>;

export const displayParamsSchema = z.object({ token: tokenSchema, data: mimeBundleSchema });
export type DisplayParams = z.infer<typeof displayParamsSchema>;
