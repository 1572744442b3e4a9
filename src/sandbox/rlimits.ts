import type { Rlimits } from '../protocol/agent.js';
import type { Limits } from '../protocol/limits.js';

const MiB = 1024 * 1024;

/**
 * Pure: the per-process rlimits the agent applies (soft = hard) before user code runs. They are the
 * backstop behind the broker's own monitor and timers, set above them so that the broker, which knows
 * why, ends the run first: CPU one second past cpuMs, address space with room for the interpreter and
 * thread stacks. Processes, file size and core dumps are exact.
 */
export function toRlimits(limits: Limits): Required<Rlimits> {
  return {
    CPU: Math.ceil(limits.cpuMs / 1000) + 1,
    AS: limits.memoryBytes * 2 + 512 * MiB,
    NPROC: limits.maxProcesses,
    FSIZE: limits.maxFileBytes,
    NOFILE: 256,
    CORE: 0,
    STACK: 8 * MiB,
  };
}

/**
 * Pure: a session's rlimits, applied once for the worker's life. CPU is left out: it is a per-execute
 * limit, which the monitor enforces against the CPU the tree used since the run began.
 */
export function toSessionRlimits(limits: Limits): Rlimits {
  const { CPU: _perExecute, ...rest } = toRlimits(limits);
  return rest;
}
