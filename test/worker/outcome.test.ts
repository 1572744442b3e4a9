import assert from 'node:assert/strict';
import type { AgentResult } from '../../src/protocol/agent.js';
import { decideOutcome, type KillReason, type OutcomeFacts } from '../../src/worker/outcome.js';

const ok: AgentResult = { type: 'result', id: 1, status: 'ok' };
const okValue: AgentResult = { type: 'result', id: 1, status: 'ok', value: { 'text/plain': '42' } };
const error: AgentResult = { type: 'result', id: 1, status: 'error', error: { type: 'ZeroDivisionError', message: 'division by zero', traceback: [] } };
const systemExit3: AgentResult = { type: 'result', id: 1, status: 'error', error: { type: 'SystemExit', message: '3', traceback: [] } };

const KILLED = { exitCode: null, signal: 'SIGKILL' } as const;
const facts = (f: Partial<OutcomeFacts>): OutcomeFacts => ({ killReason: undefined, agentResult: undefined, exitCode: 0, signal: null, ...f });

const killMessages: Record<Exclude<KillReason, 'protocol' | 'shutdown' | 'restart' | 'closed'>, string> = {
  timeout: 'the run exceeded its wall-clock limit (timeoutMs) and was killed',
  cpu_limit: 'the run exceeded its CPU time limit (cpuMs) and was killed',
  memory_limit: 'the sandbox exceeded its memory limit (memoryBytes) and was killed',
  output_limit: 'stdout + stderr exceeded maxOutputBytes; output was cut at the limit and the run was killed',
  cancelled: 'the client cancelled the run',
};

describe('worker/outcome decideOutcome', () => {
  const rows: { name: string; facts: OutcomeFacts; expected: ReturnType<typeof decideOutcome> }[] = [
    // The broker's own kill reason wins over whatever the agent said and however the process ended.
    ...(Object.keys(killMessages) as (keyof typeof killMessages)[]).flatMap((reason) => [
      { name: `${reason}, killed, no result`, facts: facts({ killReason: reason, ...KILLED }), expected: { status: reason, message: killMessages[reason] } },
      { name: `${reason} wins over an agent "ok" with exit 0`, facts: facts({ killReason: reason, agentResult: ok, exitCode: 0 }), expected: { status: reason, message: killMessages[reason] } },
      { name: `${reason} wins over an agent "error" with exit 1`, facts: facts({ killReason: reason, agentResult: error, exitCode: 1 }), expected: { status: reason, message: killMessages[reason] } },
      { name: `${reason} wins over a protocol problem`, facts: facts({ killReason: reason, protocolProblem: 'junk', ...KILLED }), expected: { status: reason, message: killMessages[reason] } },
    ]),
    { name: 'a session restart is cancelled', facts: facts({ killReason: 'restart', ...KILLED }), expected: { status: 'cancelled', message: 'the session was restarted while the run was in progress' } },
    { name: 'a session close is cancelled', facts: facts({ killReason: 'closed', ...KILLED }), expected: { status: 'cancelled', message: 'the session was closed while the run was in progress' } },
    // A session run settled by its result while the worker lives: the agent's status, or the soft stop's reason.
    { name: 'alive, ok → ok (no exit to agree with)', facts: facts({ agentResult: ok, alive: true }), expected: { status: 'ok' } },
    { name: 'alive, error → error', facts: facts({ agentResult: error, alive: true }), expected: { status: 'error' } },
    { name: 'alive, interrupted for a timeout', facts: facts({ killReason: 'timeout', agentResult: error, alive: true }), expected: { status: 'timeout', message: 'the run exceeded its wall-clock limit (timeoutMs) and was interrupted (KeyboardInterrupt); the session kept its state' } },
    { name: 'alive, interrupted on cancel even if user code swallowed it', facts: facts({ killReason: 'cancelled', agentResult: ok, alive: true }), expected: { status: 'cancelled', message: 'the client cancelled the run; it was interrupted (KeyboardInterrupt) and the session kept its state' } },
    { name: 'alive, interrupted past the output budget', facts: facts({ killReason: 'output_limit', agentResult: error, alive: true }), expected: { status: 'output_limit', message: 'stdout + stderr exceeded maxOutputBytes; output was cut at the limit and the run was interrupted (KeyboardInterrupt); the session kept its state' } },
    { name: 'alive but a protocol problem is still crashed', facts: facts({ agentResult: ok, alive: true, protocolProblem: 'junk' }), expected: { status: 'crashed', message: 'the worker sent an invalid control message: junk' } },
    { name: 'shutdown is cancelled', facts: facts({ killReason: 'shutdown', agentResult: ok, ...KILLED }), expected: { status: 'cancelled', message: 'the broker shut down while the run was in progress' } },
    {
      name: 'a protocol kill is crashed, with the problem', facts: facts({ killReason: 'protocol', protocolProblem: 'a control line that is not JSON', ...KILLED }),
      expected: { status: 'crashed', message: 'the worker broke the control protocol and was killed: a control line that is not JSON' },
    },
    {
      name: 'a protocol kill without a recorded problem', facts: facts({ killReason: 'protocol', ...KILLED }),
      expected: { status: 'crashed', message: 'the worker broke the control protocol and was killed: unknown problem' },
    },
    {
      name: 'a protocol problem without a kill is crashed, even with "ok" and exit 0', facts: facts({ protocolProblem: 'a second ready message', agentResult: ok, exitCode: 0 }),
      expected: { status: 'crashed', message: 'the worker sent an invalid control message: a second ready message' },
    },
    // No result: the process ended on its own; its exit is described, never read as a limit.
    { name: 'no result, exit 0', facts: facts({ exitCode: 0 }), expected: { status: 'crashed', message: 'the worker was lost: it exited with code 0 before reporting a result, and the broker did not kill it' } },
    { name: 'no result, exit 1', facts: facts({ exitCode: 1 }), expected: { status: 'crashed', message: 'the worker was lost: it exited with code 1 before reporting a result, and the broker did not kill it' } },
    { name: 'os._exit(137) is crashed with code 137, not memory_limit', facts: facts({ exitCode: 137 }), expected: { status: 'crashed', message: 'the worker was lost: it exited with code 137 before reporting a result, and the broker did not kill it' } },
    { name: 'process mode: the run\'s own process crashed (the sandbox lives on)', facts: facts({ exitCode: null, signal: 'SIGSEGV', forked: true }), expected: { status: 'crashed', message: 'the run\'s process was killed by SIGSEGV before reporting a result' } },
    { name: 'a SIGKILL the broker did not send is crashed, not memory_limit', facts: facts(KILLED), expected: { status: 'crashed', message: 'the worker was lost: it was killed by SIGKILL before reporting a result, and the broker did not kill it' } },
    { name: 'a segfault', facts: facts({ exitCode: null, signal: 'SIGSEGV' }), expected: { status: 'crashed', message: 'the worker was lost: it was killed by SIGSEGV before reporting a result, and the broker did not kill it' } },
    { name: 'SIGXCPU from the rlimit backstop', facts: facts({ exitCode: null, signal: 'SIGXCPU' }), expected: { status: 'crashed', message: 'the worker was lost: it was killed by SIGXCPU before reporting a result, and the broker did not kill it' } },
    // A result: it only counts when the exit agrees.
    { name: 'ok + exit 0 → ok', facts: facts({ agentResult: ok, exitCode: 0 }), expected: { status: 'ok' } },
    { name: 'ok with a value + exit 0 → ok', facts: facts({ agentResult: okValue, exitCode: 0 }), expected: { status: 'ok' } },
    { name: 'error + exit 1 → error', facts: facts({ agentResult: error, exitCode: 1 }), expected: { status: 'error' } },
    { name: 'sys.exit(3): error + exit 3 → error', facts: facts({ agentResult: systemExit3, exitCode: 3 }), expected: { status: 'error' } },
    { name: 'ok + exit 1 → crashed', facts: facts({ agentResult: ok, exitCode: 1 }), expected: { status: 'crashed', message: 'the worker reported "ok" but exited with code 1' } },
    { name: 'ok + exit 137 → crashed', facts: facts({ agentResult: ok, exitCode: 137 }), expected: { status: 'crashed', message: 'the worker reported "ok" but exited with code 137' } },
    { name: 'error + exit 0 → crashed', facts: facts({ agentResult: error, exitCode: 0 }), expected: { status: 'crashed', message: 'the worker reported "error" but exited with code 0' } },
    { name: 'ok + killed by a signal → crashed', facts: facts({ agentResult: ok, ...KILLED }), expected: { status: 'crashed', message: 'the worker reported "ok" but exited with signal SIGKILL' } },
    { name: 'error + killed by a signal → crashed', facts: facts({ agentResult: error, exitCode: null, signal: 'SIGSEGV' }), expected: { status: 'crashed', message: 'the worker reported "error" but exited with signal SIGSEGV' } },
  ];
  for (const row of rows) it(row.name, () => assert.deepEqual(decideOutcome(row.facts), row.expected));

  it('no exit code and no signal is never ok or a limit', () => {
    for (const agentResult of [undefined, ok, error]) {
      assert.equal(decideOutcome(facts({ agentResult, exitCode: null, signal: null })).status, 'crashed');
    }
  });
});
