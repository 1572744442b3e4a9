import assert from 'node:assert/strict';
import type { ExecuteResult } from '../../src/client/index.js';

/** The first line a guarded snippet prints once it has proved it runs inside a pycell sandbox. */
export const GUARD_OK = 'GUARD-OK: inside a pycell sandbox';

/**
 * Python prelude for every destructive payload (fork/thread bombs, kill(-1), disk fills).
 * The machine and CI run as root: a payload must never run on the host or in a half-built sandbox.
 * It runs only when every sign of the sandbox holds — not uid 0, a fresh pid namespace (small pid,
 * pid 1 is bubblewrap), no host /etc, /root, /home, /work, the sandbox hostname — and otherwise prints
 * REFUSED and exits 99 without running anything else. Tests fail on REFUSED (see assertGuardPassed).
 */
export const GUARD = guardWith(String.raw`
    if _guard_os.getpid() >= 10:
        reasons.append('pid %d: not in a fresh pid namespace' % _guard_os.getpid())`);

/**
 * The guard for process isolation, where later runs of a reused sandbox have larger pids: instead of a
 * small pid, the parent is bwrap's init or the fork server (pid 1 or 2) and the pid namespace is small.
 */
export const PROCESS_GUARD = guardWith(String.raw`
    if _guard_os.getppid() not in (1, 2):
        reasons.append('parent is pid %d, not bwrap init or the fork server' % _guard_os.getppid())
    if len([p for p in _guard_os.listdir('/proc') if p.isdigit()]) > 64:
        reasons.append('more than 64 processes visible: not a fresh pid namespace')`);

/** The guard's Python, with `pidCheck` (lines appending to `reasons`) for the pid-namespace test. */
function guardWith(pidCheck: string): string {
  return String.raw`
import os as _guard_os, socket as _guard_socket
def _pycell_guard():
    reasons = []
    if _guard_os.getuid() == 0 or _guard_os.geteuid() == 0:
        reasons.append('running as uid 0')
${pidCheck}
    for path in ('/etc/passwd', '/etc/shadow', '/root', '/home', '/work'):
        if _guard_os.path.exists(path):
            reasons.append(path + ' is visible: looks like the host filesystem')
    if _guard_socket.gethostname() != 'pycell':
        reasons.append('hostname is %r, not pycell' % _guard_socket.gethostname())
    try:
        with open('/proc/1/cmdline', 'rb') as f:
            init = f.read().split(b'\0')[0]
        if init.rsplit(b'/', 1)[-1] != b'bwrap':
            reasons.append('pid 1 is %r, not bubblewrap' % init)
    except OSError as e:
        reasons.append('cannot read /proc/1/cmdline: %s' % e)
    return reasons
_guard_reasons = _pycell_guard()
if _guard_reasons:
    _guard_os.write(1, ('REFUSED: ' + '; '.join(_guard_reasons) + '\n').encode())
    _guard_os._exit(99)
_guard_os.write(1, b'${GUARD_OK}\n')
del _pycell_guard, _guard_reasons, _guard_os, _guard_socket
`;
}

/** Prefixes a destructive payload with the guard. */
export function guarded(payload: string): string {
  return `${GUARD}\n${payload}`;
}

/** Fails the test when the guard refused (the payload never ran, so nothing was shown). */
export function assertGuardPassed(result: ExecuteResult): void {
  assert.ok(!result.stdout.includes('REFUSED'), `the guard refused to run the payload: ${result.stdout.slice(0, 500)}`);
  assert.ok(result.stdout.startsWith(`${GUARD_OK}\n`), `the guard line is missing (status ${result.status}): ${JSON.stringify(result).slice(0, 800)}`);
}
