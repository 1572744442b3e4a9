import { z } from 'zod';
import { limitsSchema, partialLimitsSchema } from './limits.js';

/** Loose on purpose: editor clients send LSP's own fields (rootUri, trace, workspaceFolders…); they are ignored. */
export const initializeParamsSchema = z.object({
  processId: z.number().int().nullable().optional().describe('accepted for LSP clients; unused'),
  clientInfo: z.strictObject({ name: z.string().max(256), version: z.string().max(256).optional() }).optional(),
  capabilities: z.object({ interactiveInput: z.boolean().optional() }).optional(),
  limits: partialLimitsSchema.optional(),
});
export type InitializeParams = z.infer<typeof initializeParamsSchema>;

export const isolationSchema = z.object({
  mode: z.enum(['sandbox', 'weak']).describe('"weak" only when the operator passed --allow-weak-isolation and the host cannot sandbox'),
  bubblewrap: z.object({ path: z.string(), version: z.string() }).nullable(),
  namespaces: z.array(z.enum(['user', 'pid', 'net', 'ipc', 'uts', 'cgroup', 'mount'])),
  nestedUserNamespaces: z.boolean().describe('false when --disable-userns is in force'),
  sandboxUids: z.object({ first: z.number().int(), count: z.number().int() }).nullable()
    .describe('host uids sandboxes run as: one per live sandbox when the broker is root, else the broker\'s own (count 1)'),
  network: z.enum(['none', 'host']),
  seccomp: z.object({ active: z.boolean(), note: z.string() }),
  cgroups: z.object({ active: z.boolean(), note: z.string() }),
  sandboxLimits: z.object({
    memory: z.enum(['cgroup', 'monitor']).describe('cgroup: the kernel holds the whole sandbox (tmpfs, /dev/shm, memfds included) to memoryBytes; monitor: a polled sum'),
    processes: z.enum(['cgroup', 'rlimit-per-sandbox-uid', 'rlimit-shared-uid']).describe('what holds maxProcesses for the sandbox as a whole'),
  }),
  rlimits: z.array(z.string()),
  monitor: z.object({ intervalMs: z.number().int(), enforces: z.array(z.string()) }),
  modulePolicy: z.object({ advisory: z.literal(true), deny: z.array(z.string()), allow: z.array(z.string()).nullable() })
    .describe('imports the agent refuses; advisory: not a security boundary'),
  audit: z.object({ advisory: z.literal(true), note: z.string() }),
  stateless: z.object({
    default: z.enum(['sandbox', 'process']).describe('what a stateless execute without `isolation` gets'),
    available: z.array(z.enum(['sandbox', 'process'])).describe('what execute.isolation may ask for: the default and anything stricter'),
    sandbox: z.string().describe('what the sandbox mode gives'),
    process: z.string().describe('what the process mode gives, and what it shares between runs'),
  }),
  warnings: z.array(z.string()),
});
export type Isolation = z.infer<typeof isolationSchema>;

export const initializeResultSchema = z.object({
  serverInfo: z.object({ name: z.literal('pycell'), version: z.string() }),
  capabilities: z.object({
    isolation: isolationSchema,
    python: z.object({ executable: z.string(), version: z.string() }),
    limits: z.object({ defaults: limitsSchema, maximums: limitsSchema }),
    sessions: z.object({
      maxSessions: z.number().int().describe('the operator\'s cap on open sessions'),
      idleTimeoutMs: z.number().int().describe('a session with nothing to run for this long is closed'),
      interruptGraceMs: z.number().int().describe('how long interrupted code may take to yield before its worker is killed and the session restarted'),
    }),
  }),
});
export type InitializeResult = z.infer<typeof initializeResultSchema>;

export const emptyParamsSchema = z.union([z.undefined(), z.strictObject({})]);

export const statusResultSchema = z.object({
  uptimeMs: z.number().int().describe('since the broker started'),
  workers: z.object({ idle: z.number().int(), busy: z.number().int(), starting: z.number().int() }),
  sessions: z.number().int(),
  queued: z.number().int(),
  unavailable: z.string().nullable().describe('why sandboxes cannot start right now (the respawn brake is on), or null'),
  counters: z.object({
    executions: z.number().int(),
    byStatus: z.record(z.string(), z.number().int()),
    killsByReason: z.record(z.string(), z.number().int()).describe('sandboxes the broker killed, by why: timeout, cpu_limit, memory_limit, output_limit, cancelled, protocol, shutdown, restart, closed'),
    workersLost: z.number().int().describe('sandboxes that died without the broker killing them (crashes, kills from outside)'),
    respawns: z.number().int().describe('stateless pool sandboxes started to replace used or dead ones'),
    sessionWorkers: z.number().int().describe('session sandboxes started: one per session/open, plus one per restart, kill or loss'),
    startFailures: z.number().int(),
    queueHighWater: z.number().int().describe('the most executes ever waiting at once'),
  }),
  monitor: z.object({ intervalMs: z.number().int(), sweeps: z.number().int(), meanSweepMs: z.number() }),
});
export type StatusResult = z.infer<typeof statusResultSchema>;
