import { agentCommand, toBwrapArgv } from './argv.js';
import { sandboxEnv, type HostFacts, type SandboxPolicy } from './policy.js';

/** How to start one worker: a file, its argv, its environment and the host identity to run as. */
export interface LaunchSpec {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Host uid/gid to drop to before exec; undefined keeps the broker's (when it is not root). */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** Weak isolation only: the worker needs a private host directory as its working directory. */
  readonly needsHostWorkdir: boolean;
  /** Bytes to hand over on fd 5 (the seccomp filter bwrap reads), when there are any. */
  readonly fd5?: Buffer;
  /** Process mode: fds 6/7, the fork server's own control channel (protocol/agent.md). */
  readonly serverFds?: boolean;
}

export type Isolation = { readonly kind: 'sandbox'; readonly bwrapPath: string } | { readonly kind: 'weak' };

/** Pure: isolation + policy + facts → the one way this worker kind is started. Never a shell. */
export function makeLaunchSpec(isolation: Isolation, policy: SandboxPolicy, facts: HostFacts, user: LaunchSpec['user']): LaunchSpec {
  if (isolation.kind === 'sandbox') {
    return {
      file: isolation.bwrapPath, args: toBwrapArgv(policy, facts), env: sandboxEnv, user, needsHostWorkdir: false,
      ...(facts.seccomp ? { fd5: facts.seccomp } : {}), ...(policy.mode === 'process' ? { serverFds: true } : {}),
    };
  }
  const [file, ...args] = agentCommand(facts, policy, facts.agentDir);
  return {
    file: file!,
    args,
    env: sandboxEnv,
    user,
    needsHostWorkdir: true,
  };
}
