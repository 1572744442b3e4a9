import { z } from 'zod';
import { mimeBundleSchema, runErrorSchema } from './execute.js';

/** Messages on the agent hop (protocol/agent.md). Everything from the agent is untrusted. */
export const agentReadySchema = z.object({ type: z.literal('ready'), pid: z.number().int(), python: z.string().max(64) });

export const agentDisplaySchema = z.object({ type: z.literal('display'), id: z.number().int(), data: mimeBundleSchema });

/** Bounds on what an agent may report; past them the message is invalid and its run "crashed". */
export const MAX_AUDIT_EVENTS = 64;
export const MAX_FILES_OUT_ENTRIES = 1000;

export const agentFileOutSchema = z.union([
  // Paths: 16 levels of 255-byte names, each byte possibly a 4-character \xNN escape.
  z.strictObject({ path: z.string().max(20_000), size: z.number().int().nonnegative(), content: z.string() }),
  z.strictObject({ path: z.string().max(20_000), error: z.string().max(1000) }),
]);
export type AgentFileOut = z.infer<typeof agentFileOutSchema>;

export const auditSchema = z.object({
  // The agent clips details to 200 code points: up to 400 UTF-16 units, which zod counts.
  events: z.array(z.object({ event: z.string().max(64), detail: z.string().max(1024), count: z.number().int().positive() })).max(MAX_AUDIT_EVENTS),
  dropped: z.number().int().nonnegative().describe('events not listed once the list was full'),
});
export type Audit = z.infer<typeof auditSchema>;

const resultExtras = {
  files: z.array(agentFileOutSchema).max(MAX_FILES_OUT_ENTRIES).optional(),
  audit: auditSchema.optional(),
};

export const agentResultSchema = z.discriminatedUnion('status', [
  z.object({ type: z.literal('result'), id: z.number().int(), status: z.literal('ok'), value: mimeBundleSchema.optional(), ...resultExtras }),
  z.object({ type: z.literal('result'), id: z.number().int(), status: z.literal('error'), error: runErrorSchema, ...resultExtras }),
]);
export type AgentResult = z.infer<typeof agentResultSchema>;

/** input() or getpass() in an interactive run: the agent waits for an input_reply with the same id and seq. */
export const agentInputSchema = z.object({
  type: z.literal('input'), id: z.number().int(), seq: z.number().int().positive(), prompt: z.string(), password: z.boolean(),
});
export type AgentInput = z.infer<typeof agentInputSchema>;

/** Most completion matches the broker takes from an agent, and the longest one. */
export const MAX_MATCHES = 1000;
export const MAX_MATCH_LENGTH = 1000;

export const agentCompletionSchema = z.object({
  type: z.literal('completion'),
  id: z.number().int(),
  matches: z.array(z.string().max(MAX_MATCH_LENGTH)).max(MAX_MATCHES),
  cursorStart: z.number().int().nonnegative(),
  cursorEnd: z.number().int().nonnegative(),
});
export type AgentCompletion = z.infer<typeof agentCompletionSchema>;

export const agentMessageSchema = z.union([agentReadySchema, agentDisplaySchema, agentResultSchema, agentInputSchema, agentCompletionSchema]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

/**
 * Process mode, fd 7 (fork server → broker): the `run`-th run's process (1, 2, … per sandbox) ended, and every
 * other process of the run is gone. The broker writes nothing on fd 6; closing it tells the server to stop.
 */
export const serverEndedSchema = z.object({
  type: z.literal('ended'), run: z.number().int().positive(), exitCode: z.number().int().nullable(), signal: z.string().max(16).nullable(),
  maxRssBytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional()
    .describe('the run\'s process\'s peak RSS (wait4 ru_maxrss): usage.peakMemoryBytes is at least this (its own run\'s figure only)'),
});
/**
 * Process mode, fd 7: the writable directories are empty again and the server unchanged, or what is not;
 * `next` is the pid (in the sandbox) of the next run's process, already forked and waiting for its execute.
 */
export const serverCleanedSchema = z.object({
  type: z.literal('cleaned'), run: z.number().int().positive(), next: z.number().int().positive(), problem: z.string().max(2000).optional(),
});
export const serverMessageSchema = z.discriminatedUnion('type', [serverEndedSchema, serverCleanedSchema]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

export const rlimitNames = ['CPU', 'AS', 'NPROC', 'FSIZE', 'NOFILE', 'CORE', 'STACK'] as const;
export type Rlimits = Readonly<Partial<Record<(typeof rlimitNames)[number], number>>>;

export const agentExecuteSchema = z.object({
  type: z.literal('execute'),
  id: z.number().int(),
  code: z.string(),
  files: z.array(z.object({ path: z.string(), content: z.string() })),
  rlimits: z.object(Object.fromEntries(rlimitNames.map((n) => [n, z.number().int().nonnegative().optional()])) as Record<(typeof rlimitNames)[number], z.ZodOptional<z.ZodNumber>>),
  reprLimit: z.number().int().positive(),
  stdin: z.string().optional().describe('session and process modes: the text sys.stdin reads during this run'),
  cell: z.number().int().positive().optional().describe('the cell number: code is compiled as "<cell-N>"'),
  interactive: z.boolean().optional().describe('input() and getpass() ask the broker (input messages) instead of reading stdin'),
  returnFiles: z.object({
    patterns: z.array(z.string()).nullable(),
    maxFiles: z.number().int().nonnegative(),
    maxBytes: z.number().int().nonnegative(),
    maxFileBytes: z.number().int().nonnegative(),
    maxDepth: z.number().int().nonnegative(),
    maxEntries: z.number().int().nonnegative(),
    timeMs: z.number().int().nonnegative(),
  }).optional().describe('collect the regular files this run created or changed in the working directory'),
});
export type AgentExecute = z.infer<typeof agentExecuteSchema>;

export const agentInputReplySchema = z.object({
  type: z.literal('input_reply'), id: z.number().int(), seq: z.number().int().positive(), value: z.string().nullable().describe('null: input() raises EOFError'),
});
export type AgentInputReply = z.infer<typeof agentInputReplySchema>;

export const agentCompleteSchema = z.object({
  type: z.literal('complete'), id: z.number().int(), code: z.string(), cursor: z.number().int().nonnegative().describe('offset in Unicode code points'),
});
export type AgentComplete = z.infer<typeof agentCompleteSchema>;
