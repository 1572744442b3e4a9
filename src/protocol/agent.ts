import { z } from 'zod';
import { mimeBundleSchema, runErrorSchema } from './execute.js';

/** Messages on the agent hop (protocol/agent.md). Everything from the agent is untrusted. */
export const agentReadySchema = z.object({ type: z.literal('ready'), pid: z.number().int(), python: z.string().max(64) });

export const agentDisplaySchema = z.object({ type: z.literal('display'), id: z.number().int(), data: mimeBundleSchema });

export const agentResultSchema = z.discriminatedUnion('status', [
  z.object({ type: z.literal('result'), id: z.number().int(), status: z.literal('ok'), value: mimeBundleSchema.optional() }),
  z.object({ type: z.literal('result'), id: z.number().int(), status: z.literal('error'), error: runErrorSchema }),
]);
export type AgentResult = z.infer<typeof agentResultSchema>;

export const agentMessageSchema = z.union([agentReadySchema, agentDisplaySchema, agentResultSchema]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

export const rlimitNames = ['CPU', 'AS', 'NPROC', 'FSIZE', 'NOFILE', 'CORE', 'STACK'] as const;
export type Rlimits = Readonly<Record<(typeof rlimitNames)[number], number>>;

export const agentExecuteSchema = z.object({
  type: z.literal('execute'),
  id: z.number().int(),
  code: z.string(),
  files: z.array(z.object({ path: z.string(), content: z.string() })),
  rlimits: z.object(Object.fromEntries(rlimitNames.map((n) => [n, z.number().int().nonnegative()])) as Record<(typeof rlimitNames)[number], z.ZodNumber>),
  reprLimit: z.number().int().positive(),
});
export type AgentExecute = z.infer<typeof agentExecuteSchema>;
