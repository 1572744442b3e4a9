import type { Status } from '../protocol/execute.js';
import type { AgentResult } from '../protocol/agent.js';

/** Why the broker itself ended a run. Only the broker's timers, monitor, output counter and client cancel set it. */
export type KillReason = 'timeout' | 'cpu_limit' | 'memory_limit' | 'output_limit' | 'cancelled' | 'protocol' | 'shutdown' | 'restart' | 'closed';

export interface OutcomeFacts {
  readonly killReason: KillReason | undefined;
  /** The agent's own report, if a valid one arrived: untrusted, it can only describe its own run. */
  readonly agentResult: AgentResult | undefined;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Anything the broker noticed that makes the agent's report unusable (a bad control line). */
  readonly protocolProblem?: string;
  /** A session run settled by its result while the worker lives on (a stop by interrupt, not by kill). */
  readonly alive?: boolean;
  /** Process mode: the exit is the run's own process's (reported by the fork server), not the sandbox's. */
  readonly forked?: boolean;
}

/** Soft stops: what a session run that yielded to the interrupt was stopped for. */
const interruptMessages: Partial<Record<KillReason & Status, string>> = {
  timeout: 'the run exceeded its wall-clock limit (timeoutMs) and was interrupted (KeyboardInterrupt); the session kept its state',
  output_limit: 'stdout + stderr exceeded maxOutputBytes; output was cut at the limit and the run was interrupted (KeyboardInterrupt); the session kept its state',
  cancelled: 'the client cancelled the run; it was interrupted (KeyboardInterrupt) and the session kept its state',
};

const killMessages: Record<KillReason, string> = {
  timeout: 'the run exceeded its wall-clock limit (timeoutMs) and was killed',
  cpu_limit: 'the run exceeded its CPU time limit (cpuMs) and was killed',
  memory_limit: 'the sandbox exceeded its memory limit (memoryBytes) and was killed',
  output_limit: 'stdout + stderr exceeded maxOutputBytes; output was cut at the limit and the run was killed',
  cancelled: 'the client cancelled the run',
  protocol: 'the worker broke the control protocol and was killed',
  shutdown: 'the broker shut down while the run was in progress',
  restart: 'the session was restarted while the run was in progress',
  closed: 'the session was closed while the run was in progress',
};

/**
 * Pure: decides a run's status from the broker's own records. An exit code is never read as a limit
 * (os._exit(137) is a crash, not a memory kill), and the agent's "ok" only counts with exit code 0.
 */
export function decideOutcome(facts: OutcomeFacts): { status: Status; message?: string } {
  const { killReason, agentResult, exitCode } = facts;
  if (facts.alive && agentResult && !facts.protocolProblem) {
    if (!killReason) return { status: agentResult.status };
    const message = killReason in interruptMessages ? interruptMessages[killReason as KillReason & Status] : undefined;
    if (message) return { status: killReason as KillReason & Status, message };
  }
  if (killReason === 'protocol') return { status: 'crashed', message: `${killMessages.protocol}: ${facts.protocolProblem ?? 'unknown problem'}` };
  if (killReason === 'shutdown' || killReason === 'restart' || killReason === 'closed') return { status: 'cancelled', message: killMessages[killReason] };
  if (killReason) return { status: killReason, message: killMessages[killReason] };
  if (facts.protocolProblem) return { status: 'crashed', message: `the worker sent an invalid control message: ${facts.protocolProblem}` };
  if (!agentResult) {
    const how = facts.signal ? `was killed by ${facts.signal}` : `exited with code ${exitCode}`;
    // Not the broker's kill: a crash of the code, or a kill from outside (kill -9 of the agent or bwrap).
    if (facts.forked) return { status: 'crashed', message: `the run's process ${how} before reporting a result` };
    return { status: 'crashed', message: `the worker was lost: it ${how} before reporting a result, and the broker did not kill it` };
  }
  if (agentResult.status === 'ok' && exitCode === 0) return { status: 'ok' };
  if (agentResult.status === 'error' && exitCode !== null && exitCode !== 0) return { status: 'error' };
  return { status: 'crashed', message: `the worker reported "${agentResult.status}" but exited with ${exitCode === null ? `signal ${facts.signal}` : `code ${exitCode}`}` };
}
