import { z } from 'zod';
import { MAX_CODE_LENGTH, tokenSchema } from './execute.js';
import { partialLimitsSchema } from './limits.js';

export const sessionIdSchema = z.string().min(1).max(128);

export const sessionOpenParamsSchema = z.strictObject({
  limits: partialLimitsSchema.optional().describe('memoryBytes, maxProcesses and maxFileBytes hold for the session\'s life; timeoutMs, cpuMs and maxOutputBytes are per-execute defaults'),
});
export const sessionOpenResultSchema = z.object({ session: sessionIdSchema });
export const sessionRefParamsSchema = z.strictObject({ session: sessionIdSchema });

export const sessionCompleteParamsSchema = z.strictObject({
  session: sessionIdSchema,
  code: z.string().max(MAX_CODE_LENGTH),
  cursor: z.number().int().nonnegative().describe('offset into code in Unicode code points (as Jupyter), at most its length'),
});
export type SessionCompleteParams = z.infer<typeof sessionCompleteParamsSchema>;

export const completeResultSchema = z.object({
  matches: z.array(z.string()),
  cursorStart: z.number().int().nonnegative().describe('code points: the matches replace code[cursorStart:cursorEnd]'),
  cursorEnd: z.number().int().nonnegative(),
});
export type CompleteResult = z.infer<typeof completeResultSchema>;

/** Broker → client: input() in a run whose client declared interactiveInput. */
export const inputRequestParamsSchema = z.object({
  token: tokenSchema.describe('the execute\'s outputToken'),
  prompt: z.string(),
  password: z.boolean().describe('true for getpass(): do not echo'),
});
export type InputRequestParams = z.infer<typeof inputRequestParamsSchema>;

/** Longest answer to input/request the broker passes on. */
export const MAX_INPUT_LENGTH = 1024 * 1024;
export const inputRequestResultSchema = z.object({ value: z.string().max(MAX_INPUT_LENGTH) });
export type InputRequestResult = z.infer<typeof inputRequestResultSchema>;
