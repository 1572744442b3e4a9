import { ETC_FILES, SANDBOX_AGENT_DIR, SECCOMP_FD, SANDBOX_HOSTNAME, SANDBOX_WORKDIR, sandboxEnv, type HostFacts, type SandboxPolicy } from './policy.js';

/**
 * Projects policy + host facts onto bubblewrap's argv (everything after the bwrap path).
 * Pure: no I/O, no shell. Order matters to bwrap (mounts apply in order; --size and --perms bind to the next
 * option), and a table test of this function is the security review of the sandbox's shape.
 */
export function toBwrapArgv(policy: SandboxPolicy, facts: HostFacts): string[] {
  const args: string[] = [
    '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup',
    ...(policy.network === 'none' ? ['--unshare-net'] : []),
    // A sandbox that can make user namespaces gets full capabilities inside them: a large kernel surface.
    '--disable-userns',
    '--die-with-parent',
    // A new session: no controlling terminal, so TIOCSTI cannot inject keystrokes into the broker's terminal.
    '--new-session',
    '--hostname', SANDBOX_HOSTNAME,
    '--cap-drop', 'ALL',
    ...(facts.seccomp ? ['--seccomp', String(SECCOMP_FD)] : []),
    '--clearenv',
  ];
  for (const [key, value] of Object.entries(sandboxEnv)) args.push('--setenv', key, value);
  args.push('--ro-bind', '/usr', '/usr');
  for (const entry of facts.rootEntries) {
    if ('symlink' in entry) args.push('--symlink', entry.symlink, entry.path);
    else args.push('--ro-bind', entry.path, entry.path);
  }
  for (const { name, target } of facts.alternatives ?? []) args.push('--symlink', target, `/etc/alternatives/${name}`);
  for (const file of facts.etcFiles ?? []) if (ETC_FILES.includes(file)) args.push('--ro-bind', file, file);
  for (const prefix of facts.python.prefixes) {
    if (!isUnder(prefix, '/usr')) args.push('--ro-bind', prefix, prefix);
  }
  for (const bind of policy.extraReadOnly) args.push('--ro-bind', bind.source, bind.dest);
  args.push('--ro-bind', facts.agentDir, SANDBOX_AGENT_DIR);
  // /proc/sys of the sandbox's own namespaces would be writable (kernel.shm*, pid_max…): read-only.
  args.push('--proc', '/proc', '--remount-ro', '/proc');
  args.push('--dev', '/dev');
  // /dev is a tmpfs of bwrap's with no size: only a sized /dev/shm stays writable.
  args.push('--size', String(policy.shmBytes), '--tmpfs', '/dev/shm');
  args.push('--remount-ro', '/dev');
  args.push('--size', String(policy.workspaceBytes), '--tmpfs', SANDBOX_WORKDIR);
  // The root itself is bwrap's own tmpfs with no size: read-only, so the sized tmpfs is the only place to write.
  args.push('--remount-ro', '/');
  args.push('--chdir', SANDBOX_WORKDIR);
  args.push('--', ...agentCommand(facts, policy, SANDBOX_AGENT_DIR));
  return args;
}

/** The command that starts the agent: the chosen interpreter, isolated mode, unbuffered, no bytecode writes. */
export function agentCommand(facts: HostFacts, policy: Pick<SandboxPolicy, 'mode' | 'modulePolicy'>, agentDir: string): string[] {
  const modules = policy.modulePolicy;
  const hasPolicy = modules !== undefined && (modules.deny.length > 0 || modules.allow !== null);
  return [
    facts.python.executable, '-I', '-B', '-u', `${agentDir}/main.py`, '--mode', policy.mode,
    ...(hasPolicy ? ['--module-policy', JSON.stringify({ deny: modules.deny, allow: modules.allow })] : []),
  ];
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}
