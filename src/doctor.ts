import { createBroker } from './broker.js';
import type { Config } from './config.js';
import { silentLogger } from './log.js';
import { probeHost } from './sandbox/probe.js';

/** Tells an operator whether this host can sandbox, what is in force, and how to fix what is not. */
export async function doctor(config: Config, say: (line: string) => void): Promise<number> {
  const probe = await probeHost({ bwrap: config.bwrap, python: config.python });
  const mark = (ok: boolean): string => (ok ? 'ok  ' : 'FAIL');
  say('pycell doctor');
  if ('error' in probe.bwrap) say(`${mark(false)} bubblewrap: ${probe.bwrap.error}\n     fix: apt-get install bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora), pacman -S bubblewrap (Arch)`);
  else say(`${mark(true)} bubblewrap ${probe.bwrap.version} at ${probe.bwrap.path}`);
  say(`${mark(probe.userns.ok)} user namespaces: ${probe.userns.detail}${probe.userns.fix ? `\n     fix: ${probe.userns.fix}` : ''}`);
  if ('error' in probe.python) say(`${mark(false)} python: ${probe.python.error}\n     fix: install python3 or pass --python PATH`);
  else say(`${mark(true)} python ${probe.python.version} at ${probe.python.executable} (prefixes: ${probe.python.prefixes.join(', ')})`);
  const { first, count } = config.sandboxUids;
  say(`info broker runs as ${probe.runningAsRoot ? `root: each sandbox runs as a host uid of its own from ${first}-${first + count - 1}` : `uid ${process.getuid?.()}: sandboxes run as that uid`}`);
  if ('error' in probe.bwrap || 'error' in probe.python) {
    say('result: this host cannot sandbox; pycell serve will refuse to start (unless --allow-weak-isolation)');
    return 1;
  }
  // The probe is not proof: start a real sandbox and run code in it.
  try {
    const broker = await createBroker({ ...config, poolSize: 1 }, silentLogger);
    try {
      const result = await broker.execute({ code: 'import os\nprint(os.getuid(), os.getpid(), len(os.listdir("/")))' }, config.limits.defaults, {});
      const ok = result.status === 'ok';
      say(`${mark(ok)} trial run in a sandbox: ${ok ? `uid, pid, root entries = ${result.stdout.trim()}` : `${result.status}: ${result.message ?? result.stderr}`}`);
      const { isolation } = broker;
      say(`info seccomp filter: ${isolation.seccomp.active ? 'active' : 'not active'} (${isolation.seccomp.note})`);
      say(`info cgroups: ${isolation.cgroups.active ? 'active' : 'not used'} (${isolation.cgroups.note})`);
      say(`info whole-sandbox limits: memory by ${isolation.sandboxLimits.memory}, processes by ${isolation.sandboxLimits.processes}`);
      say(`info network: ${isolation.network}${isolation.network === 'host' ? ' (HOST NETWORK: trusted code only)' : ' (an empty network namespace)'}`);
      for (const warning of isolation.warnings) say(`warn ${warning}`);
      say(ok ? 'result: this host can sandbox' : 'result: sandboxes start but cannot run code');
      return ok ? 0 : 1;
    } finally {
      await broker.close();
    }
  } catch (error) {
    say(`${mark(false)} trial sandbox: ${(error as Error).message}`);
    return 1;
  }
}
