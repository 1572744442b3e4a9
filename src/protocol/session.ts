import { z } from 'zod';
import { partialLimitsSchema } from './limits.js';

export const sessionOpenParamsSchema = z.strictObject({ limits: partialLimitsSchema.optional() });
export const sessionOpenResultSchema = z.object({ session: z.string() });
export const sessionRefParamsSchema = z.strictObject({ session: z.string().min(1).max(128) });
