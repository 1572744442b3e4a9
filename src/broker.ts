import { fileURLToPath } from 'node:url';
import type { Config } from './config.js';
import { BrokerError, ErrorCode } from './errors.js';
import { checkFiles } from './files.js';
import { toReturnFiles } from './filesout.js';
import { resolveLimits } from './limits.js';
import type { Logger } from './log.js';
import { Monitor } from './monitor/monitor.js';
import { newPoolCounters, Pool, sumCounts } from './pool/pool.js';
import type { ExecuteParams, ExecuteResult } from './protocol/execute.js';
import type { Isolation as IsolationReport, StatusResult } from './protocol/lifecycle.js';
import type { Limits } from './protocol/limits.js';
import { makeLaunchSpec, type Isolation, type LaunchSpec } from './sandbox/launch.js';
import { findUnixSockets, probeHost, trialSandbox, type HostProbe } from './sandbox/probe.js';
import { toRlimits, toSessionRlimits } from './sandbox/rlimits.js';
import { Sessions } from './session/sessions.js';
import type { CompleteResult, SessionCompleteParams } from './protocol/session.js';
import { invalidParams } from './errors.js';
import { limitNames, type LimitName } from './protocol/limits.js';
import { makeRuntimeDir, type RuntimeDir } from './sandbox/runtime.js';
import { closeInheritedFds } from './sandbox/fds.js';
import { ARCHES, seccompProgram } from './sandbox/seccomp.js';
import { toCgroupLimits, type CgroupLayout } from './sandbox/cgroups.js';
import { describe as describeCgroups, probeCgroups, removeStaleCgroups } from './sandbox/cgroup-probe.js';
import { UidPool } from './sandbox/uids.js';
import { existsSync, realpathSync } from 'node:fs';
import { SandboxWorker, type RunHooks, type WorkerCounters } from './worker/worker.js';

export const AGENT_SOURCE = fileURLToPath(new URL('../../python-agent', import.meta.url));
export const VERSION = '0.1.0';

export interface Broker {
  readonly isolation: IsolationReport;
  readonly python: { readonly executable: string; readonly version: string };
  readonly config: Config;
  execute(params: ExecuteParams, defaults: Limits, hooks: RunHooks): Promise<ExecuteResult>;
  openSession(limits: Partial<Record<LimitName, unknown>> | undefined, defaults: Limits): Promise<string>;
  restartSession(id: string): Promise<void>;
  closeSession(id: string): Promise<void>;
  complete(params: SessionCompleteParams): Promise<CompleteResult>;
  status(): StatusResult;
  close(): Promise<void>;
}

/** Limits a session's sandbox holds for its whole life (rlimits applied once, the monitor's memory sum). */
const SESSION_LIFETIME_LIMITS: readonly LimitName[] = limitNames.filter((n) => n === 'memoryBytes' || n === 'maxProcesses' || n === 'maxFileBytes');

/** Why this host cannot sandbox (with the likely fix), or what a real trial sandbox confirmed. */
export async function trySandbox(probe: HostProbe, spec: LaunchSpec | undefined): Promise<{ problem: string; seccompConfirmed: false } | { problem: undefined; seccompConfirmed: boolean }> {
  if ('error' in probe.bwrap) return { problem: probe.bwrap.error, seccompConfirmed: false };
  if (!spec || 'error' in probe.python) return { problem: 'no interpreter to run', seccompConfirmed: false };
  const trial = await trialSandbox(spec, probe.python.executable);
  if (trial.ok) return { problem: undefined, seccompConfirmed: trial.seccompConfirmed };
  const problem = probe.userns.ok ? trial.error : `${trial.error} (likely cause: ${probe.userns.detail}; fix: ${probe.userns.fix})`;
  return { problem, seccompConfirmed: false };
}

/** The composition root: probe the host once, then config → monitor, pool → the broker's operations. */
export async function createBroker(config: Config, log: Logger): Promise<Broker> {
  const startedAt = performance.now();
  const closed = closeInheritedFds();
  if (closed.length > 0) log.warn({ closed }, 'closed inherited file descriptors so they cannot reach a sandbox');
  const probe = await probeHost({ bwrap: config.bwrap, python: config.python });
  if ('error' in probe.python) throw new BrokerError(ErrorCode.SandboxUnavailable, `${probe.python.error} (run "pycell doctor")`);
  const python = probe.python;
  const runtime: RuntimeDir = makeRuntimeDir(config.agentDir ?? AGENT_SOURCE, undefined, python.executable);
  const hidden = python.prefixes.find((prefix) => ['/tmp', '/proc', '/dev', '/pycell'].some((r) => prefix === r || prefix.startsWith(`${r}/`)));
  if (hidden) {
    runtime.dispose();
    throw new BrokerError(ErrorCode.SandboxUnavailable, `the interpreter's prefix ${hidden} lies where the sandbox mounts its own /tmp, /proc, /dev or /pycell, so its files would be hidden; move the virtualenv or interpreter elsewhere (e.g. /opt or /var/tmp)`);
  }
  // bwrap binds what a symlink points to: check, and bind, the real path.
  const binds = config.readOnlyBinds.map((bind) => ({ source: existsSync(bind.source) ? realpathSync(bind.source) : bind.source, dest: bind.dest }));
  for (const bind of binds) {
    const problem = !existsSync(bind.source) ? 'does not exist on this host' : socketProblem(bind.source, log);
    if (problem) {
      runtime.dispose();
      throw new BrokerError(ErrorCode.InvalidParams, `config readOnlyBinds: ${bind.source} ${problem}`, { field: 'readOnlyBinds' });
    }
  }
  const uids = probe.runningAsRoot ? new UidPool(config.sandboxUids.first, config.sandboxUids.count) : undefined;
  // The trial sandbox runs before any worker, as the first uid of the range.
  const user = uids ? { uid: config.sandboxUids.first, gid: config.sandboxUids.first } : undefined;
  const arch = ARCHES[process.arch];
  const facts = { python: { executable: python.executable, prefixes: python.prefixes }, rootEntries: probe.rootEntries, alternatives: probe.alternatives, etcFiles: probe.etcFiles, agentDir: runtime.agentDir, ...(arch ? { seccomp: seccompProgram(arch) } : {}) };
  const policy = {
    network: config.network, workspaceBytes: config.workspaceBytes, shmBytes: config.shmBytes, extraReadOnly: binds,
    mode: 'single' as const, modulePolicy: config.modulePolicy,
  };
  const sandboxed = 'error' in probe.bwrap ? undefined : makeLaunchSpec({ kind: 'sandbox', bwrapPath: probe.bwrap.path }, policy, facts, user);
  const { problem, seccompConfirmed } = await trySandbox(probe, sandboxed);
  if (problem && !config.allowWeakIsolation) {
    runtime.dispose();
    throw new BrokerError(ErrorCode.SandboxUnavailable, `cannot sandbox on this host: ${problem}. Run "pycell doctor"; to run code without a sandbox anyway, start with --allow-weak-isolation`);
  }
  const isolation: Isolation = problem || !sandboxed ? { kind: 'weak' } : { kind: 'sandbox', bwrapPath: sandboxed.file };
  if (isolation.kind === 'weak') log.warn({ problem }, 'WEAK ISOLATION: code runs without a sandbox, as the operator asked');
  if (config.network === 'host') log.warn('HOST NETWORK: sandboxes share the host network, for trusted code only');
  const spec = isolation.kind === 'sandbox' && sandboxed ? sandboxed : makeLaunchSpec(isolation, policy, facts, user);
  const sessionSpec = makeLaunchSpec(isolation, { ...policy, mode: 'session' }, facts, user);
  if (config.isolation === 'process' && isolation.kind !== 'sandbox') {
    runtime.dispose();
    throw new BrokerError(ErrorCode.SandboxUnavailable, 'process isolation forks runs inside a sandbox, and this host gives none (weak isolation); start without --isolation process');
  }
  const processSpec = makeLaunchSpec(isolation, { ...policy, mode: 'process' }, facts, user);
  const cgroups = isolation.kind === 'sandbox' && config.cgroups === 'auto' ? probeCgroups() : { detail: config.cgroups === 'off' ? 'turned off by the operator (cgroups: off)' : 'weak isolation' };
  if (cgroups.layout) {
    const removed = removeStaleCgroups(cgroups.layout, isAlive);
    if (removed > 0) log.info({ removed }, 'removed cgroups left by a broker that was killed');
  } else if (isolation.kind === 'sandbox') log.warn({ detail: cgroups.detail }, 'no per-sandbox cgroups: memory is summed by the monitor (RSS + tmpfs + memfds), processes limited by RLIMIT_NPROC');
  const monitor = new Monitor(config.monitorIntervalMs);
  const workerCounters = { killsByReason: {}, lost: 0, sessionWorkers: 0 } as WorkerCounters & { sessionWorkers: number };
  const workerOptions = {
    monitor, log, startTimeoutMs: config.startTimeoutMs, maxControlLineBytes: 16 * 1024 * 1024, maxControlBytes: 64 * 1024 * 1024, interruptGraceMs: config.interruptGraceMs,
    ...(uids ? { uids } : {}), ...(cgroups.layout ? { cgroups: cgroups.layout } : {}), countHiddenMemory: isolation.kind === 'sandbox' && !cgroups.layout,
    counters: workerCounters,
  };
  const idleCgroupLimits = toCgroupLimits(config.limits.defaults);
  const poolOptions = { size: config.poolSize, maxQueue: config.maxQueue, log, counters: newPoolCounters() };
  const pools = {
    sandbox: new Pool({ ...poolOptions, makeWorker: () => new SandboxWorker(spec, { ...workerOptions, mode: 'single', idleCgroupLimits }) }),
    process: config.isolation === 'process'
      ? new Pool({ ...poolOptions, makeWorker: () => new SandboxWorker(processSpec, { ...workerOptions, mode: 'process', idleCgroupLimits: toCgroupLimits(config.limits.defaults, 3), maxRuns: config.processRuns }) })
      : undefined,
  };
  // The default mode's pool is warmed now; the stricter one only once a client asks for it.
  const pool = pools.process ?? pools.sandbox;
  pool.start();
  const poolFor = (mode: 'sandbox' | 'process' | undefined): Pool => {
    if (mode === 'sandbox' && pool !== pools.sandbox) {
      pools.sandbox.start();
      return pools.sandbox;
    }
    if (mode === 'process' && !pools.process) throw invalidParams('params.isolation', mode, 'is weaker than this broker\'s default (sandbox): a client may only ask for the stricter mode');
    return pool;
  };
  const sessions = new Sessions({
    maxSessions: config.maxSessions,
    idleMs: config.sessionIdleMs,
    maxQueue: config.maxQueue,
    completionTimeoutMs: config.completionTimeoutMs,
    log,
    makeWorker: () => {
      workerCounters.sessionWorkers += 1;
      return new SandboxWorker(sessionSpec, { ...workerOptions, mode: 'session' });
    },
  });
  const sandboxUids = uids ? { first: uids.first, count: uids.count } : { first: process.getuid?.() ?? -1, count: 1 };
  const report = isolationReport(probe, isolation, config, sandboxUids, isolation.kind === 'sandbox' && seccompConfirmed, cgroups);
  let closing: Promise<void> | undefined;

  return {
    isolation: report,
    python: { executable: python.executable, version: python.version },
    config,
    async execute(params, defaults, hooks) {
      if (params.session !== undefined && params.isolation !== undefined) {
        throw invalidParams('params.isolation', params.isolation, 'applies to stateless executes: a session is one sandbox of its own');
      }
      if (params.session !== undefined) {
        const session = sessions.get(params.session);
        for (const name of SESSION_LIFETIME_LIMITS) {
          if (params.limits?.[name] !== undefined) throw invalidParams(`params.limits.${name}`, params.limits[name], 'is fixed for a session\'s life: set it in session/open');
        }
        const limits = resolveLimits(params.limits, session.limits, config.limits.maximums, 'params.limits');
        const files = checkFiles(params.files ?? [], limits.maxFileBytes, config.workspaceBytes);
        hooks.onStart?.(limits);
        const job = { code: params.code, stdin: params.stdin ?? '', files, limits, rlimits: toSessionRlimits(limits), reprLimit: config.reprLimit, returnFiles: toReturnFiles(params.returnFiles, limits) };
        return pool.count(await session.execute(job, hooks));
      }
      const target = poolFor(params.isolation);
      const limits = resolveLimits(params.limits, defaults, config.limits.maximums, 'params.limits');
      const files = checkFiles(params.files ?? [], limits.maxFileBytes, config.workspaceBytes);
      hooks.onStart?.(limits);
      const job = { code: params.code, stdin: params.stdin ?? '', files, limits, rlimits: toRlimits(limits), reprLimit: config.reprLimit, returnFiles: toReturnFiles(params.returnFiles, limits) };
      return target.execute(job, hooks);
    },
    openSession(requested, defaults) {
      return sessions.open(resolveLimits(requested, defaults, config.limits.maximums, 'params.limits'));
    },
    restartSession: (id) => sessions.get(id).restart(),
    closeSession: (id) => sessions.close(id),
    complete(params) {
      const session = sessions.get(params.session);
      const length = [...params.code].length;
      if (params.cursor > length) throw invalidParams('params.cursor', params.cursor, `is past the end of code (${length} code points)`);
      return session.complete(params.code, params.cursor);
    },
    status() {
      const [first, second] = [pools.sandbox.status(), pools.process?.status()];
      const { queued, ...workers } = second ? sumCounts(first, second) : first;
      const { executions, byStatus, respawns, startFailures, queueHighWater } = pool.counters;
      const sweeps = monitor.stats();
      return {
        uptimeMs: Math.round(performance.now() - startedAt),
        workers, queued, sessions: sessions.size, unavailable: pool.unavailableReason() ?? pools.sandbox.unavailableReason() ?? null,
        counters: { executions, byStatus: { ...byStatus }, killsByReason: { ...workerCounters.killsByReason }, workersLost: workerCounters.lost, respawns, sessionWorkers: workerCounters.sessionWorkers, startFailures, queueHighWater },
        monitor: { intervalMs: config.monitorIntervalMs, sweeps: sweeps.sweeps, meanSweepMs: Math.round(sweeps.meanSweepMs * 1000) / 1000 },
      };
    },
    close() {
      closing ??= Promise.all([pools.sandbox.close(), pools.process?.close(), sessions.closeAll()]).then(() => undefined).finally(() => runtime.dispose());
      return closing;
    },
  };
}

/** What initialize and doctor claim: only what the probe, the trial and the argv actually give. */
function isolationReport(
  probe: HostProbe, isolation: Isolation, config: Config, sandboxUids: { first: number; count: number }, seccomp: boolean,
  cgroups: { layout?: CgroupLayout; detail: string },
): IsolationReport {
  const sandboxed = isolation.kind === 'sandbox';
  const perUid = probe.runningAsRoot;
  const warnings: string[] = [];
  if (!sandboxed) warnings.push('weak isolation: code runs as a plain process with rlimits only; no namespaces, no filesystem or network isolation');
  if (config.network === 'host') warnings.push('HOST NETWORK enabled by the operator: code can reach the host\'s services and beyond; for trusted code only');
  if (!cgroups.layout) {
    warnings.push(`no per-sandbox cgroup (${cgroups.detail}): memory is the monitor's sum of RSS, tmpfs and memfd pages every ${config.monitorIntervalMs} ms, so a fast allocation burst can overshoot until the next sample; ${perUid ? 'processes are limited by RLIMIT_NPROC with one host uid per sandbox' : 'processes are limited by RLIMIT_NPROC, which counts every process of the broker\'s uid'}`);
  }
  warnings.push('the audit log and module policy are advisory: ctypes and native code bypass them; the OS layers are the boundary');
  return {
    mode: sandboxed ? 'sandbox' : 'weak',
    bubblewrap: sandboxed && !('error' in probe.bwrap) ? probe.bwrap : null,
    namespaces: sandboxed ? ['user', 'pid', 'ipc', 'uts', 'cgroup', 'mount', ...(config.network === 'none' ? (['net'] as const) : [])] : [],
    nestedUserNamespaces: !sandboxed,
    sandboxUids: sandboxed || perUid ? sandboxUids : null,
    network: sandboxed && config.network === 'none' ? 'none' : 'host',
    seccomp: seccomp
      ? { active: true, note: 'confirmed by a trial sandbox: only the native syscall ABI (i386/x32 calls kill the process); ptrace, process_vm_*, keyrings, bpf, perf_event_open, userfaultfd, io_uring, the mount API, unshare/setns, clone with namespace flags, kexec, modules, reboot, swap, acct, TIOCSTI/TIOCLINUX, personality changes, SysV shmget/msgget/semget, mq_open and socket families other than AF_UNIX/AF_INET/AF_INET6 fail with EPERM; clone3 with ENOSYS' }
      : { active: false, note: probe.seccomp.detail },
    cgroups: cgroups.layout ? { active: true, note: describeCgroups(cgroups.layout) } : { active: false, note: cgroups.detail },
    sandboxLimits: {
      memory: cgroups.layout ? 'cgroup' : 'monitor',
      processes: cgroups.layout ? 'cgroup' : perUid ? 'rlimit-per-sandbox-uid' : 'rlimit-shared-uid',
    },
    rlimits: ['CPU', 'AS', 'NPROC', 'FSIZE', 'NOFILE', 'CORE', 'STACK'],
    monitor: { intervalMs: config.monitorIntervalMs, enforces: ['cpuMs', cgroups.layout ? 'memoryBytes (sum of the process tree RSS; the cgroup holds the hard limit)' : 'memoryBytes (sum of the process tree RSS + tmpfs + memfd pages)'] },
    modulePolicy: { advisory: true, deny: [...config.modulePolicy.deny], allow: config.modulePolicy.allow ? [...config.modulePolicy.allow] : null },
    audit: { advisory: true, note: 'a PEP 578 audit hook in the agent records sockets, subprocesses, exec, ctypes loads and opens outside the working directory into result.audit; user code shares its interpreter and can evade it' },
    stateless: {
      default: config.isolation,
      available: config.isolation === 'process' ? ['process', 'sandbox'] : ['sandbox'],
      sandbox: 'a fresh sandbox and interpreter for every run, discarded after it',
      process: `a fresh process for every run, forked by a pre-imported fork server in a sandbox reused for up to ${config.processRuns} runs; after each run every other process in the sandbox is killed, /tmp and /dev/shm are wiped and checked empty, and the sandbox is replaced after any anomaly. Shared by the runs of one sandbox: its hash seed (str/bytes hash values) and the fork server's address-space layout`,
    },
    warnings,
  };
}

/** Why a bind may not be made: it holds a unix socket, which sandboxes could connect to through it. */
function socketProblem(source: string, log: Logger): string | undefined {
  const { sockets, complete } = findUnixSockets(source);
  if (sockets.length > 0) return `holds a unix socket (${sockets.slice(0, 3).join(', ')}): sandboxes could connect to it through the bind (a read-only mount does not stop connect()); bind a directory without sockets`;
  if (!complete) log.warn({ source }, 'a read-only bind is too large to check fully for unix sockets; make sure it holds none');
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
