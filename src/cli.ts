#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createBroker } from './broker.js';
import { makeConfig, type Config, type ConfigInput } from './config.js';
import { BrokerError } from './errors.js';
import { makeLogger } from './log.js';
import { limitNames, type LimitName } from './protocol/limits.js';
import { connectStreams } from './rpc/stdio.js';
import { serve } from './rpc/server.js';
import { doctor } from './doctor.js';
import type { ExecuteResult } from './protocol/execute.js';

const USAGE = `usage: pycell <command> [options]

commands:
  serve [--stdio]        JSON-RPC over stdin/stdout (LSP base protocol); logs on stderr
  run <file | ->         run a Python file (or stdin) once in a fresh sandbox; exit status is the snippet's
  doctor                 check whether this host can sandbox, and how to fix it if not

operator options (serve, run, doctor):
  --config FILE          JSON config file (keys as the options below, camelCase)
  --python PATH          interpreter to run in the sandbox (default /usr/bin/python3)
  --bwrap PATH           bubblewrap binary (default: bwrap on PATH)
  --pool-size N          warm sandboxes kept ready (default 4)
  --isolation sandbox|process
                         stateless executes by default: a fresh sandbox per run (default), or a fresh
                         process per run forked in a reused sandbox (faster; see the README)
  --process-runs N       process isolation: runs one sandbox serves before it is replaced (default 1000)
  --max-queue N          executes that may wait for a sandbox (default 256)
  --max-client-backlog N bytes unread by the client past which output notifications are dropped (default 8 MiB)
  --max-sessions N       sessions that may be open at once (default 8)
  --session-idle-ms N    close a session with nothing to run for this long (default 1800000, 30 min)
  --interrupt-grace-ms N how long interrupted session code may take to yield before its worker is killed (default 1000)
  --sandbox-uids FIRST:COUNT
                         host uids for sandboxes when the broker runs as root, one per live sandbox
                         (default 1800000000:4096)
  --cgroups auto|off     per-sandbox cgroups (memory incl. tmpfs, tasks) where the host offers them (default auto)
  --ro-bind SRC:DEST     bind a host path read-only into every sandbox at DEST (repeatable)
  --deny-module NAME     advisory: refuse this import inside the sandbox (repeatable)
  --allow-module NAME    advisory: user code may import only these top-level modules (repeatable)
  --limit NAME=VALUE     default limit (timeoutMs, cpuMs, memoryBytes, maxProcesses, maxOutputBytes, maxFileBytes)
  --max-limit NAME=VALUE maximum a client may ask for
  --network none|host    host network is for trusted code only (default none)
  --allow-weak-isolation run code without a sandbox when the host cannot sandbox (reported by initialize)
  --monitor-interval-ms N
                         how often the monitor samples each running sandbox's CPU and memory (default 50)
  --start-timeout-ms N   kill a sandbox that is not ready this long after its spawn (default 10000)
  --agent-dir DIR        run another agent (DIR/main.py) in the sandboxes: for testing with stand-in agents
  --log-level LEVEL      trace|debug|info|warn|error|silent (default info)
  --log-file FILE        write logs there instead of stderr`;

const options = {
  stdio: { type: 'boolean' },
  config: { type: 'string' },
  python: { type: 'string' },
  bwrap: { type: 'string' },
  'pool-size': { type: 'string' },
  isolation: { type: 'string' },
  'process-runs': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-client-backlog': { type: 'string' },
  'max-sessions': { type: 'string' },
  'session-idle-ms': { type: 'string' },
  'interrupt-grace-ms': { type: 'string' },
  'sandbox-uids': { type: 'string' },
  cgroups: { type: 'string' },
  'ro-bind': { type: 'string', multiple: true },
  'deny-module': { type: 'string', multiple: true },
  'allow-module': { type: 'string', multiple: true },
  'start-timeout-ms': { type: 'string' },
  'monitor-interval-ms': { type: 'string' },
  'agent-dir': { type: 'string' },
  limit: { type: 'string', multiple: true },
  'max-limit': { type: 'string', multiple: true },
  network: { type: 'string' },
  'allow-weak-isolation': { type: 'boolean' },
  'log-level': { type: 'string' },
  'log-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

/** Flags over the config file → one validated Config. */
export function configFromFlags(flags: Flags): Config {
  const input: Record<string, unknown> = flags.config ? (JSON.parse(readFileSync(flags.config, 'utf8')) as Record<string, unknown>) : {};
  const set = (key: keyof ConfigInput, value: unknown): void => {
    if (value !== undefined) input[key] = value;
  };
  set('python', flags.python);
  set('bwrap', flags.bwrap);
  set('poolSize', flags['pool-size'] === undefined ? undefined : Number(flags['pool-size']));
  set('maxQueue', flags['max-queue'] === undefined ? undefined : Number(flags['max-queue']));
  set('maxClientBacklogBytes', flags['max-client-backlog'] === undefined ? undefined : Number(flags['max-client-backlog']));
  const number = (flag: string | undefined): number | undefined => (flag === undefined ? undefined : Number(flag));
  set('maxSessions', number(flags['max-sessions']));
  set('isolation', flags.isolation);
  set('processRuns', number(flags['process-runs']));
  set('sessionIdleMs', number(flags['session-idle-ms']));
  set('interruptGraceMs', number(flags['interrupt-grace-ms']));
  set('network', flags.network);
  set('allowWeakIsolation', flags['allow-weak-isolation']);
  set('logLevel', flags['log-level']);
  set('logFile', flags['log-file']);
  set('cgroups', flags.cgroups);
  set('startTimeoutMs', number(flags['start-timeout-ms']));
  set('monitorIntervalMs', number(flags['monitor-interval-ms']));
  set('agentDir', flags['agent-dir']);
  if (flags['sandbox-uids']) {
    const [first, count] = flags['sandbox-uids'].split(':').map(Number);
    input.sandboxUids = { first, count };
  }
  if (flags['ro-bind']) {
    input.readOnlyBinds = [...((input.readOnlyBinds as unknown[]) ?? []), ...flags['ro-bind'].map((bind) => {
      const at = bind.lastIndexOf(':');
      return at > 0 ? { source: bind.slice(0, at), dest: bind.slice(at + 1) } : { source: bind, dest: bind };
    })];
  }
  if (flags['deny-module'] || flags['allow-module']) {
    const policy = (input.modulePolicy ?? {}) as { deny?: string[]; allow?: string[] | null };
    input.modulePolicy = {
      deny: [...(policy.deny ?? []), ...(flags['deny-module'] ?? [])],
      allow: flags['allow-module'] ? [...(policy.allow ?? []), ...flags['allow-module']] : (policy.allow ?? null),
    };
  }
  const limits = (input.limits ?? {}) as { defaults?: Record<string, number>; maximums?: Record<string, number> };
  limits.defaults = { ...limits.defaults, ...parseLimitFlags(flags.limit ?? [], '--limit') };
  limits.maximums = { ...limits.maximums, ...parseLimitFlags(flags['max-limit'] ?? [], '--max-limit') };
  input.limits = limits;
  return makeConfig(input);
}

function parseLimitFlags(values: readonly string[], flag: string): Partial<Record<LimitName, number>> {
  const out: Partial<Record<LimitName, number>> = {};
  for (const item of values) {
    const [name, value] = item.split('=');
    if (!limitNames.includes(name as LimitName) || value === undefined) throw new Error(`${flag} ${item}: expected NAME=VALUE with NAME one of ${limitNames.join(', ')}`);
    out[name as LimitName] = Number(value);
  }
  return out;
}

async function serveCommand(config: Config): Promise<void> {
  const log = makeLogger(config.logLevel, config.logFile);
  const broker = await createBroker(config, log);
  const connection = connectStreams(process.stdin, process.stdout);
  // Exit once the last answer is flushed to stdout (a write callback comes after the data is handed on).
  const stop = (code: number): void => {
    void (async () => {
      await broker.close();
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve)); // vscode-jsonrpc writes from setImmediate
      process.stdout.write('', () => process.exit(code));
    })();
  };
  process.stdout.on('error', () => undefined); // a client that closed our stdout: answers are dropped, not fatal
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection (kept serving)'));
  serve(connection, broker, log, stop);
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(130));
  connection.listen();
  log.info({ isolation: broker.isolation.mode, python: broker.python }, 'pycell serving on stdio');
}

/** Exit status for `pycell run`: the snippet's own, or a conventional one when the broker ended it. */
export function exitStatusOf(result: ExecuteResult): number {
  switch (result.status) {
    case 'ok': return 0;
    case 'error': return result.exitCode ?? 1;
    case 'timeout': return 124;
    case 'cancelled': return 130;
    case 'crashed': return result.exitCode ?? 1;
    default: return 137;
  }
}

async function runCommand(config: Config, file: string | undefined): Promise<number> {
  if (!file) throw new Error('pycell run needs a file, or - for stdin');
  const code = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  const broker = await createBroker({ ...config, poolSize: 1 }, makeLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, config.logFile));
  try {
    const result = await broker.execute({ code }, config.limits.defaults, {
      onOutput: (stream, text) => void (stream === 'stdout' ? process.stdout : process.stderr).write(text),
    });
    if (result.error) process.stderr.write(`${result.error.traceback.join('\n')}\n`);
    if (result.message) process.stderr.write(`pycell: ${result.status}: ${result.message}\n`);
    return exitStatusOf(result);
  } finally {
    await broker.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const config = configFromFlags(values);
  if (command === 'serve') {
    await serveCommand(config);
    return -1;
  }
  if (command === 'run') return runCommand(config, rest[0]);
  if (command === 'doctor') return doctor(config, (line) => process.stdout.write(`${line}\n`));
  process.stderr.write(`pycell: unknown command ${command}\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof BrokerError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`pycell: ${message}\n`);
    process.exit(error instanceof BrokerError ? 3 : 2);
  },
);
