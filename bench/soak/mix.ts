/**
 * The whole mix: the good snippets plus hostile ones (limits, crashes, escapes, cancels), stateless and in
 * sessions, each with the status it must produce. The weights set how often each is drawn.
 */
import { GUARD } from '../../test/security/guard.js';
import { goodKinds } from './good.js';
import { all, guardOk, restarted, streamCheck, type Kind } from './kind.js';

const MiB = 2 ** 20;

/** Limits every session is opened with (memoryBytes and maxProcesses hold for its whole life). */
export const SESSION_LIMITS = { memoryBytes: 128 * MiB, maxProcesses: 16 };

const SLEEP_FOREVER = 'import time\ntime.sleep(3600)';
const CPU_SPIN = 'while True: pass';
const MEMORY_HOG = 'x = []\nwhile True:\n    x.append(b"a" * 2**20)';
const FLOOD = 'while True: print("x" * 99)';
const CLOSE_CONTROL_FDS = 'import os\nos.close(3)\nos.close(4)';

/** daemonTag: what the daemon puts on its command line (this soak's own, so a survivor can be named). */
export function buildKinds(daemonTag: string): Kind[] {
  return [
    ...goodKinds(false, (s) => s),
    // Hostile, stateless (each in its own fresh sandbox).
    {
      name: 'cpu-spin', weight: 2, session: false, expect: 'cpu_limit',
      make: () => ({ params: { code: CPU_SPIN, limits: { cpuMs: 200, timeoutMs: 10_000 } } }),
    },
    {
      name: 'sleep-forever', weight: 2, session: false, expect: 'timeout',
      make: () => ({ params: { code: SLEEP_FOREVER, limits: { timeoutMs: 300 } } }),
    },
    {
      name: 'memory-hog', weight: 2, session: false, expect: 'memory_limit',
      make: () => ({ params: { code: MEMORY_HOG, limits: { memoryBytes: 64 * MiB, timeoutMs: 10_000 } } }),
    },
    {
      name: 'output-flood', weight: 2, session: false, expect: 'output_limit',
      make: () => ({ params: { code: FLOOD, limits: { maxOutputBytes: 10 * 1024 } }, stream: true }),
      check: (r, _i, seen) => (Buffer.byteLength(r.stdout) > 10 * 1024 || !r.stdoutTruncated ? `stdout ${Buffer.byteLength(r.stdout)} bytes, truncated ${r.stdoutTruncated}` : streamCheck(r, seen)),
    },
    {
      name: 'fork-bomb', weight: 1.5, session: false, expect: 'ok', guarded: true,
      make: () => ({
        params: {
          code: `${GUARD}\nimport os, time\nforked, failure = 0, None\nfor _ in range(64):\n    try:\n        pid = os.fork()\n    except OSError as e:\n        failure = e.errno\n        break\n    if pid == 0:\n        time.sleep(5)\n        os._exit(0)\n    forked += 1\nprint("FORKED", forked, "ERRNO", failure)`,
          limits: { maxProcesses: 8, timeoutMs: 10_000 },
        },
      }),
      check: all(guardOk, (r) => {
        const m = /FORKED (\d+) ERRNO (\S+)/.exec(r.stdout);
        return m && Number(m[1]) <= 8 && m[2] === '11' ? undefined : `fork bomb not held by maxProcesses 8: ${JSON.stringify(r.stdout.slice(-80))}`;
      }),
    },
    {
      name: 'exit-137', weight: 1.5, session: false, expect: 'crashed',
      make: () => ({ params: { code: 'import os\nos._exit(137)' } }),
      check: (r) => (r.exitCode === 137 ? undefined : `exitCode ${r.exitCode}`),
    },
    {
      name: 'self-sigkill', weight: 1.5, session: false, expect: 'crashed',
      make: () => ({ params: { code: 'import os\nos.kill(os.getpid(), 9)' } }),
    },
    {
      // Double fork + setsid: the daemon leaves its parent's tree and session, so only tearing down the whole
      // sandbox ends it; the tag on its command line names a survivor.
      name: 'daemon', weight: 1.5, session: false, expect: 'ok', guarded: true,
      make: (i) => ({
        params: {
          code: `${GUARD}\nimport os, sys\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execv(sys.executable, [sys.executable, "-I", "-c", "import time; time.sleep(3600)", "${daemonTag}${i}"])\n    os._exit(0)\nos.waitpid(pid, 0)\nprint("PARENT-DONE")`,
        },
      }),
      check: all(guardOk, (r) => (r.stdout.endsWith('PARENT-DONE\n') ? undefined : `stdout ${JSON.stringify(r.stdout.slice(-80))}`)),
    },
    {
      name: 'close-fds-3-4', weight: 1.5, session: false, expect: 'crashed',
      make: () => ({ params: { code: CLOSE_CONTROL_FDS } }),
    },
    {
      name: 'cancel-running', weight: 1, session: false, expect: 'cancelled',
      make: () => ({ params: { code: `import time\nprint("started", flush=True)\n${SLEEP_FOREVER}`, limits: { timeoutMs: 10_000 } }, cancel: { onOutput: 'started\n' }, stream: true }),
      check: (r) => (r.stdout === 'started\n' ? undefined : `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`),
    },
    {
      // Any moment from queued to running: the cancel races the dispatch.
      name: 'cancel-anytime', weight: 1, session: false, expect: 'cancelled',
      make: (_i, r) => ({ params: { code: SLEEP_FOREVER, limits: { timeoutMs: 10_000 } }, cancel: { afterMs: 1 + Math.floor(r * 200) } }),
    },
    // Sessions: mostly good code, some limits that interrupt (state kept), now and then a kill (restart).
    ...goodKinds(true, (_s, inSession) => inSession),
    {
      name: 's-counter', weight: 8, session: true, expect: 'ok',
      make: () => ({ params: { code: '_soak_n = globals().get("_soak_n", 0) + 1\n_soak_n' } }),
      check: all((r) => (Number(r.value?.['text/plain']) >= 1 ? undefined : `value ${JSON.stringify(r.value)}`), restarted(false)),
    },
    {
      name: 's-timeout', weight: 3, session: true, expect: 'timeout',
      make: () => ({ params: { code: SLEEP_FOREVER, limits: { timeoutMs: 300 } } }),
      check: all((r) => (r.error?.type === 'KeyboardInterrupt' ? undefined : `error ${JSON.stringify(r.error)?.slice(0, 120)}`), restarted(false)),
    },
    {
      name: 's-output-flood', weight: 3, session: true, expect: 'output_limit',
      make: () => ({ params: { code: FLOOD, limits: { maxOutputBytes: 10 * 1024 } }, stream: true }),
      check: all((r, _i, seen) => (Buffer.byteLength(r.stdout) > 10 * 1024 || !r.stdoutTruncated ? `stdout ${Buffer.byteLength(r.stdout)} bytes, truncated ${r.stdoutTruncated}` : streamCheck(r, seen)), restarted(false)),
    },
    {
      name: 's-cancel', weight: 4, session: true, expect: 'cancelled',
      make: () => ({ params: { code: `import time\nprint("started", flush=True)\n${SLEEP_FOREVER}`, limits: { timeoutMs: 10_000 } }, cancel: { onOutput: 'started\n' }, stream: true }),
      check: all((r) => (r.stdout === 'started\n' ? undefined : `stdout ${JSON.stringify(r.stdout.slice(0, 80))}`), restarted(false)),
    },
    {
      name: 's-kill-cpu', weight: 0.5, session: true, expect: 'cpu_limit',
      make: () => ({ params: { code: CPU_SPIN, limits: { cpuMs: 200, timeoutMs: 10_000 } } }),
      check: restarted(true),
    },
    {
      name: 's-kill-memory', weight: 0.5, session: true, expect: 'memory_limit',
      make: () => ({ params: { code: MEMORY_HOG, limits: { timeoutMs: 10_000 } } }),
      check: restarted(true),
    },
    {
      name: 's-kill-exit-137', weight: 0.5, session: true, expect: 'crashed',
      make: () => ({ params: { code: 'import os\nos._exit(137)' } }),
      check: restarted(true),
    },
    {
      name: 's-kill-close-fds', weight: 0.5, session: true, expect: 'crashed',
      make: () => ({ params: { code: CLOSE_CONTROL_FDS } }),
      check: restarted(true),
    },
  ];
}
