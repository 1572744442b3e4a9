import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { treeByChildren } from '../../src/monitor/procfs.js';
import type { BrokerClient, ExecuteParams, ExecuteResult } from '../../src/client/index.js';
import { assertGuardPassed, PROCESS_GUARD } from './guard.js';
import { clientModule, DEFAULT_ARGS, EMIT, JSON_MARK, randomTag, startBroker, type SecurityBroker } from './harness.js';

/**
 * THREATS, process isolation (`pycell serve --isolation process`): every stateless run is a fresh process
 * forked by a fork server S inside a sandbox that serves many runs. Whatever one run does — processes left
 * behind, files in /tmp and /dev/shm, signals to S, S's scheduling and limits, forged fork-server messages,
 * its own memory — must not reach a later run of the same sandbox, and must not keep S from serving it.
 *
 * Each run prints who served it (WHO): S's pid namespace and start time. Two runs with the same `server`
 * ran in the same sandbox, so "run 2 in the same sandbox" is checked, not assumed. The main broker keeps ONE
 * warm sandbox, so a run waits for the previous run's sandbox unless the broker replaced it.
 *
 * Destructive payloads (signals, scheduling and limits of the parent, fork bombs) prove first that they run
 * inside a sandbox (PROCESS_GUARD) and refuse otherwise.
 */

const WHO_MARK = '@@PYCELL-WHO@@';
/** Python prelude: one line naming the process that forked this run (S in process mode; bwrap's init in a fresh sandbox). */
const WHO = String.raw`
import json as _who_json, os as _who_os
def _who():
    ppid = _who_os.getppid()
    with open('/proc/%d/stat' % ppid) as f:
        start = f.read().rsplit(')', 1)[1].split()[19]
    return {'server': '%s@%s' % (_who_os.readlink('/proc/self/ns/pid'), start), 'ppid': ppid, 'pid': _who_os.getpid()}
_who_os.write(1, ('${WHO_MARK}' + _who_json.dumps(_who()) + '\n').encode())
del _who, _who_json, _who_os
`;

interface Who {
  readonly server: string;
  readonly ppid: number;
  readonly pid: number;
}

interface Ran<T> {
  readonly result: ExecuteResult;
  readonly who: Who;
  /** What the snippet passed to emit(), if it did. */
  readonly data: T | undefined;
}

type Executor = Pick<SecurityBroker, 'execute'> | BrokerClient;

/** Runs WHO + EMIT + code (after PROCESS_GUARD when `guard`); returns who ran it and what it emitted. */
async function run<T = Record<string, unknown>>(
  broker: Executor, code: string, params: Omit<ExecuteParams, 'code'> = {}, options: { guard?: boolean; onInput?: () => string | null } = {},
): Promise<Ran<T>> {
  const full = `${options.guard ? PROCESS_GUARD : ''}${WHO}${EMIT}${code}`;
  const result = await broker.execute({ ...params, code: full }, options.onInput ? { onInput: options.onInput } : {});
  if (options.guard) assertGuardPassed(result);
  const lines = result.stdout.split('\n');
  const whoLine = lines.find((l) => l.startsWith(WHO_MARK));
  assert.ok(whoLine, `the run did not say who served it (status ${result.status}): ${JSON.stringify(result).slice(0, 1500)}`);
  const dataLine = lines.find((l) => l.startsWith(JSON_MARK));
  return { result, who: JSON.parse(whoLine.slice(WHO_MARK.length)) as Who, data: dataLine ? (JSON.parse(dataLine.slice(JSON_MARK.length)) as T) : undefined };
}

function show(result: ExecuteResult): string {
  return JSON.stringify(result).slice(0, 1500);
}

function assertOk(ran: Ran<unknown>): void {
  assert.equal(ran.result.status, 'ok', show(ran.result));
}

/** The second run was served by the first run's fork server: the sandbox was reused. */
function assertSameSandbox(first: Ran<unknown>, second: Ran<unknown>, why: string): void {
  assert.equal(second.who.ppid, 2, `not a process-mode run: ${JSON.stringify(second.who)}`);
  assert.equal(second.who.server, first.who.server, `${why}: the next run was not served by the same fork server (the sandbox was replaced), so the test proves nothing about reuse`);
}

/** The second run was served by another fork server: the broker replaced the sandbox. */
function assertNewSandbox(first: Ran<unknown>, second: Ran<unknown>, why: string): void {
  assert.notEqual(second.who.server, first.who.server, `${why}: the next run was served by the same fork server ${first.who.server}`);
}

/** Processes in the run's pid namespace besides bwrap's init and the fork server; the run itself included. */
const PIDS = `sorted(int(p) for p in os.listdir('/proc') if p.isdigit())`;

describe('security: process isolation keeps runs of a reused sandbox apart', function () {
  this.timeout(60_000);
  let broker: SecurityBroker;

  before(async () => {
    broker = await startBroker({ args: ['--isolation', 'process', '--pool-size', '1'] });
    assert.equal(broker.init.capabilities.isolation.stateless?.default, 'process', JSON.stringify(broker.init.capabilities.isolation).slice(0, 500));
    const status = await broker.client.status();
    assert.equal(status.workers.idle + status.workers.busy + status.workers.starting, 1, `one warm sandbox expected: ${JSON.stringify(status.workers)}`);
  });
  after(() => broker?.close());

  /** A plain run: a baseline of who serves the sandbox now. */
  const plain = (): Promise<Ran<Record<string, unknown>>> => run(broker, 'emit({})');

  describe('(a) processes a run leaves behind', () => {
    it('a double-forked setsid daemon, a plain child, a stopped child ignoring signals and a zombie are gone before the next run of the same sandbox, and their delayed output and marker files never reach it', async () => {
      const tag = randomTag();
      const r1 = await run(broker, String.raw`
import os, signal, time
def later(kind):
    time.sleep(0.8)
    for d in ('/tmp', '/dev/shm'):
        try:
            with open('%s/BG-%s-%s' % (d, TAG, kind), 'w') as f:
                f.write(kind)
        except OSError:
            pass
    os.write(1, ('BG-%s-%s\n' % (TAG, kind)).encode())
    os.write(2, ('BG-%s-%s\n' % (TAG, kind)).encode())
    os._exit(0)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        later('daemon')
    os._exit(0)
if os.fork() == 0:
    later('child')
if os.fork() == 0:  # ignores every signal it can, then stops itself
    for s in signal.valid_signals():
        try:
            if s != signal.SIGCHLD:
                signal.signal(s, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    os.kill(os.getpid(), signal.SIGSTOP)
    later('stopped')
if os.fork() == 0:  # the parent of a zombie it never waits for
    if os.fork() == 0:
        os._exit(0)
    later('zombie-parent')
time.sleep(0.1)
emit({'pids': ${PIDS}})
`.replaceAll('TAG', JSON.stringify(tag)));
      assertOk(r1);
      assert.ok((r1.data!.pids as number[]).length >= 5, `the background processes did not start: ${JSON.stringify(r1.data)}`);
      const r2 = await run(broker, String.raw`
import os, time
time.sleep(1.5)  # well past the moment the background processes would write
found = [d + '/' + n for d in ('/tmp', '/dev/shm') for n in os.listdir(d)]
emit({'pids': ${PIDS}, 'found': found, 'me': os.getpid()})
`);
      assertOk(r2);
      assertSameSandbox(r1, r2, 'a clean run');
      assert.deepEqual(r2.data!.pids, [1, 2, r2.data!.me], `processes of the earlier run survived into the next: ${JSON.stringify(r2.data)}`);
      assert.deepEqual(r2.data!.found, []);
      assert.doesNotMatch(r2.result.stdout + r2.result.stderr, new RegExp(`BG-${tag}`), 'output of a process left by the earlier run reached the next run');
    });

    it('a child flooding stdout and stderr until it is killed: none of its output is attributed to the next run', async () => {
      for (let i = 0; i < 3; i++) {
        const tag = randomTag();
        const r1 = await run(broker, String.raw`
import os, time
emit({})  # first: a flood chunk of 80 KB written mid-line would garble this run's own JSON line
if os.fork() == 0:
    chunk = ('FLOOD-%s\n' % TAG).encode() * 4096
    while True:
        os.write(1, chunk)
        os.write(2, chunk)
time.sleep(0.05)
`.replaceAll('TAG', JSON.stringify(tag)), { limits: { maxOutputBytes: 64 * 1024 * 1024 } });
        assertOk(r1);
        assert.match(r1.result.stdout, new RegExp(`FLOOD-${tag}`), 'control: the flood reached the run that started it');
        const r2 = await run(broker, 'emit({})');
        assertOk(r2);
        assertSameSandbox(r1, r2, 'a clean run');
        assert.doesNotMatch(r2.result.stdout + r2.result.stderr, new RegExp(`FLOOD-${tag}`), `output of run ${i * 2 + 1}'s child reached the next run`);
      }
    });
  });

  describe('(b) files a run leaves in /tmp and /dev/shm', () => {
    it('files, a chmod-000 directory tree, symlinks to /proc/self/root and /usr, a fifo, a socket, a hard link, odd names and a 200-deep tree are all gone for the next run of the same sandbox, and the directory modes are restored', async () => {
      const tag = randomTag();
      const r1 = await run(broker, String.raw`
import os, socket, stat
modes = {d: oct(os.stat(d).st_mode) for d in ('/tmp', '/dev/shm')}
for d in ('/tmp', '/dev/shm'):
    open(d + '/plain-' + TAG, 'w').write(TAG)
    open(d + '/.hidden-' + TAG, 'w').write(TAG)
    os.link(d + '/plain-' + TAG, d + '/hardlink-' + TAG)
    os.mkdir(d + '/locked')
    open(d + '/locked/secret', 'w').write(TAG)
    os.mkdir(d + '/locked/inner')
    open(d + '/locked/inner/secret', 'w').write(TAG)
    os.chmod(d + '/locked/inner', 0)
    os.chmod(d + '/locked', 0)
    os.symlink('/proc/self/root', d + '/root-link')
    os.symlink('/usr', d + '/usr-link')
    os.symlink('/nonexistent', d + '/dangling')
    os.mkfifo(d + '/fifo')
    open(os.fsencode(d) + b'/odd-\xff\n name', 'w').write(TAG)
s = socket.socket(socket.AF_UNIX)
s.bind('/tmp/sock')
fd = os.open('/tmp/held-open', os.O_CREAT | os.O_WRONLY)
os.write(fd, TAG.encode())
os.chdir('/tmp')
for _ in range(200):
    os.mkdir('d')
    os.chdir('d')
open('deep', 'w').write(TAG)
os.chdir('/')
os.chmod('/dev/shm', 0o700)
emit({'modes': modes, 'tmp': len(os.listdir('/tmp')), 'shm': len(os.listdir('/dev/shm'))})
`.replaceAll('TAG', JSON.stringify(tag)));
      assertOk(r1);
      assert.ok((r1.data!.tmp as number) >= 10 && (r1.data!.shm as number) >= 9, `control: the files were not made: ${JSON.stringify(r1.data)}`);
      const r2 = await run(broker, String.raw`
import os
left = []
for d in ('/tmp', '/dev/shm'):
    for root, dirs, files in os.walk(d):
        left += [os.path.join(root, n) for n in dirs + files]
emit({'left': left[:20], 'modes': {d: oct(os.stat(d).st_mode) for d in ('/tmp', '/dev/shm')}, 'usr': os.path.exists('/usr/bin')})
`);
      assertOk(r2);
      assertSameSandbox(r1, r2, 'the files were removable');
      assert.deepEqual(r2.data!.left, [], 'files of the earlier run are visible to the next');
      assert.deepEqual(r2.data!.modes, r1.data!.modes, 'the modes of /tmp and /dev/shm were not restored');
      assert.equal(r2.data!.usr, true, 'a symlink target outside /tmp was removed');
      assert.doesNotMatch(r2.result.stdout, new RegExp(tag));
    });

    it('a tree deeper than the wipe can follow (1500 levels) and a /tmp chmod 000: the next run sees an empty /tmp, in a replaced sandbox if need be', async () => {
      for (const attack of [
        `os.chdir('/tmp')\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\nopen('deep', 'w').write('x')\nos.chdir('/')`,
        `open('/tmp/kept', 'w').write('x')\nos.mkdir('/dev/shm/kept')\nos.chmod('/tmp', 0)\nos.chmod('/dev/shm', 0)`,
      ]) {
        const r1 = await run(broker, `import os\n${attack}\nemit({})`);
        assertOk(r1);
        const r2 = await run(broker, `import os\nemit({'tmp': os.listdir('/tmp'), 'shm': os.listdir('/dev/shm'), 'modes': [oct(os.stat(d).st_mode) for d in ('/tmp', '/dev/shm')]})`);
        assertOk(r2);
        assert.deepEqual(r2.data, { tmp: [], shm: [], modes: r2.data!.modes }, JSON.stringify(r2.data));
        assert.ok((r2.data!.modes as string[]).every((m) => m !== '0o40000'), `a mode of 000 survived: ${JSON.stringify(r2.data)}`);
        // Informational: the fork server reports a wipe it could not finish, and the broker replaces the sandbox.
        assertNewSandbox(r1, r2, `after ${attack.split('\n')[0]} the wipe cannot finish`);
      }
    });
  });

  describe('(b2) what a run can leave on /tmp and /dev/shm themselves', () => {
    it('a default ACL, user xattrs and the directories\' times set by one run are gone for the next run of the same sandbox', async () => {
      const LOOK = String.raw`
import os
def look(d):
    return {'xattrs': sorted(os.listxattr(d)), 'times': [os.stat(d).st_atime_ns, os.stat(d).st_mtime_ns]}
open('/tmp/probe', 'w').close()
mode = oct(os.stat('/tmp/probe').st_mode & 0o777)
os.unlink('/tmp/probe')
emit({'tmp': look('/tmp'), 'shm': look('/dev/shm'), 'mode': mode})`;
      const r0 = await run(broker, LOOK);
      assertOk(r0);
      // system.posix_acl_default: version 2; user::r--, group::---, other::--- : new files come out 0400.
      const acl = 'bytes([2,0,0,0, 1,0,4,0,0xff,0xff,0xff,0xff, 4,0,0,0,0xff,0xff,0xff,0xff, 0x20,0,0,0,0xff,0xff,0xff,0xff])';
      const r1 = await run(broker, `import os
for d in ('/tmp', '/dev/shm'):
    os.setxattr(d, 'user.note', b'from run 1')
    os.utime(d, ns=(123456789, 987654321))
os.setxattr('/tmp', 'system.posix_acl_default', ${acl})
open('/tmp/x', 'w').close()
emit({'mode': oct(os.stat('/tmp/x').st_mode & 0o777)})`);
      assertOk(r1);
      assert.equal((r1.data as { mode: string }).mode, '0o400', 'control: the default ACL did change new files\' mode in run 1');
      const r2 = await run(broker, LOOK);
      assertOk(r2);
      assertSameSandbox(r1, r2, 'xattrs and times');
      const d0 = r0.data as { tmp: { xattrs: string[] }; shm: { xattrs: string[] }; mode: string };
      const d2 = r2.data as typeof d0 & { tmp: { times: number[] }; shm: { times: number[] } };
      assert.deepEqual([d2.tmp.xattrs, d2.shm.xattrs, d2.mode], [d0.tmp.xattrs, d0.shm.xattrs, d0.mode]);
      assert.notDeepEqual(d2.tmp.times, [123456789, 987654321]);
      assert.notDeepEqual(d2.shm.times, [123456789, 987654321]);
    });
  });

  describe('(c) the fork server\'s memory', () => {
    it('a run cannot read the fork server\'s memory, environ, maps, fds, cwd or exe, nor ptrace it; the same probes work on the run itself (control)', async () => {
      const r = await run(broker, String.raw`
import ctypes, errno, os
ppid = os.getppid()
def probe(pid):
    out = {}
    for name in ('mem', 'environ', 'maps', 'smaps', 'auxv', 'stack', 'syscall', 'pagemap', 'fd', 'fdinfo', 'map_files', 'cwd', 'root', 'exe', 'fd/7'):
        path = '/proc/%d/%s' % (pid, name)
        try:
            if name in ('fd', 'fdinfo', 'map_files'):
                os.listdir(path)
            elif name in ('cwd', 'root', 'exe'):
                os.readlink(path)
            elif name == 'fd/7':
                os.close(os.open(path, os.O_WRONLY))
            elif name == 'mem':
                os.close(os.open(path, os.O_RDONLY))  # the access check is at open; offset 0 is never mapped
            else:
                with open(path, 'rb') as f:
                    f.read(64)
            out[name] = 'readable'
        except OSError as e:
            out[name] = errno.errorcode.get(e.errno, str(e.errno))
    return out
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
def ptrace(request, pid):
    ctypes.set_errno(0)
    r = libc.ptrace(request, pid, None, None)
    return 'ok' if r == 0 else errno.errorcode.get(ctypes.get_errno(), '?')
# process_vm_readv(ppid, local iov, 1, remote iov, 1, 0)
class Iov(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
buf = ctypes.create_string_buffer(16)
local, remote = Iov(ctypes.addressof(buf), 16), Iov(0x400000, 16)
ctypes.set_errno(0)
vm = libc.process_vm_readv(ppid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
marker = ctypes.create_string_buffer(b'CONTROL-MEMORY')
with open('/proc/self/mem', 'rb') as f:
    f.seek(ctypes.addressof(marker))
    own = f.read(14).decode()
stat = open('/proc/%d/stat' % ppid).read().split()[1]
emit({'server': probe(ppid), 'self': probe(os.getpid()), 'ownMem': own, 'serverComm': stat,
      'attach': ptrace(16, ppid), 'seize': ptrace(0x4206, ppid), 'vm': 'ok' if vm >= 0 else errno.errorcode.get(ctypes.get_errno(), '?')})
`);
      assertOk(r);
      const data = r.data as { server: Record<string, string>; self: Record<string, string>; ownMem: string; serverComm: string; attach: string; seize: string; vm: string };
      assert.equal(r.who.ppid, 2);
      assert.match(data.serverComm, /^\(python3/, `the parent is not the fork server: ${JSON.stringify(data)}`);
      // Control: the same probes on the run's own process work (so the paths and the reader are right).
      assert.equal(data.ownMem, 'CONTROL-MEMORY');
      for (const name of ['mem', 'environ', 'maps', 'fd', 'cwd', 'exe']) assert.equal(data.self[name], 'readable', `control: /proc/self/${name}: ${data.self[name]}`);
      const readable = Object.entries(data.server).filter(([, how]) => how === 'readable').map(([name]) => name);
      assert.deepEqual(readable, [], `the run could read the fork server's /proc entries: ${JSON.stringify(data.server)}`);
      assert.notEqual(data.attach, 'ok', 'PTRACE_ATTACH to the fork server succeeded');
      assert.notEqual(data.seize, 'ok', 'PTRACE_SEIZE of the fork server succeeded');
      assert.notEqual(data.vm, 'ok', 'process_vm_readv of the fork server succeeded');
    });
  });

  describe('(d) signals to the fork server', () => {
    it('every catchable signal sent to the fork server leaves it serving: the next run has the same server', async () => {
      const r1 = await run(broker, String.raw`
import os, signal, time
ppid = os.getppid()
sent = []
for s in sorted(signal.valid_signals()):
    if s in (signal.SIGKILL, signal.SIGSTOP):
        continue
    os.kill(ppid, s)
    sent.append(int(s))
time.sleep(0.3)
os.kill(ppid, 0)  # still there
emit({'sent': sent})
`, {}, { guard: true });
      assertOk(r1);
      assert.ok((r1.data!.sent as number[]).length >= 50, JSON.stringify(r1.data));
      const r2 = await run(broker, 'emit({})');
      assertOk(r2);
      assertSameSandbox(r1, r2, 'SIGTERM/SIGINT/SIGHUP/SIGUSR1/SIGSEGV/... to the fork server');
    });

    // Fails until forkserver.ended() names every signal: signal.Signals(n) raises ValueError for 32, 33 and
    // 35..63, which ends the fork server (dispatch.serve: "internal error") and loses the sandbox.
    it('a run that dies of a real-time signal (SIGRTMIN+6) is reported with that signal by the fork server, which survives to say so', async () => {
      const r1 = await run(broker, `import os\nemit({})\nos.kill(os.getpid(), 40)`);
      assert.equal(r1.result.status, 'crashed', show(r1.result));
      assert.equal(r1.result.exitCode, null, `the fork server did not report the signal (it failed on it): ${show(r1.result)}`);
      assert.equal(typeof r1.result.signal, 'string', show(r1.result));
      const r2 = await plain();
      assertOk(r2);
    });

    it('SIGSTOP to the fork server: the run ends as a timeout and the next run is served by a new sandbox', async () => {
      const r1 = await run(broker, `import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\nemit({})`, { limits: { timeoutMs: 2000 } }, { guard: true });
      assert.equal(r1.result.status, 'timeout', show(r1.result));
      const r2 = await plain();
      assertOk(r2);
      assertNewSandbox(r1, r2, 'a stopped fork server');
    });

    it('SIGKILL to the fork server: the run ends crashed and the next run is served by a new sandbox', async () => {
      const r1 = await run(broker, `import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(0.2)\nemit({})`, {}, { guard: true });
      assert.equal(r1.result.status, 'crashed', show(r1.result));
      const r2 = await plain();
      assertOk(r2);
      assertNewSandbox(r1, r2, 'a killed fork server');
    });
  });

  describe('(e) the fork server\'s scheduling and limits', () => {
    /** What a run can see of what it inherited from the fork server. */
    const INHERITED = String.raw`
import os, platform, resource, ctypes
def ioprio():
    number = {'x86_64': 252, 'aarch64': 31}.get(platform.machine())
    return None if number is None else ctypes.CDLL(None, use_errno=True).syscall(number, 1, 0)
inherited = {'nice': os.getpriority(os.PRIO_PROCESS, 0), 'affinity': sorted(os.sched_getaffinity(0)), 'scheduler': os.sched_getscheduler(0),
             'rlimits': {n: resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith('RLIMIT_')}, 'ioprio': ioprio()}
`;
    const attacks: { name: string; code: string }[] = [
      { name: 'setpriority(PRIO_PROCESS, ppid, 19)', code: `os.setpriority(os.PRIO_PROCESS, ppid, 19)\nchanged = os.getpriority(os.PRIO_PROCESS, ppid) == 19` },
      { name: 'setpriority(PRIO_USER, uid, 10)', code: `os.setpriority(os.PRIO_USER, os.getuid(), 10)\nchanged = os.getpriority(os.PRIO_PROCESS, ppid) == 10` },
      { name: 'sched_setaffinity(ppid, {0})', code: `before = os.sched_getaffinity(ppid)\nos.sched_setaffinity(ppid, {0})\nchanged = os.sched_getaffinity(ppid) != before` },
      { name: 'prlimit(ppid, RLIMIT_NOFILE, (64, 64))', code: `resource.prlimit(ppid, resource.RLIMIT_NOFILE, (64, 64))\nchanged = resource.prlimit(ppid, resource.RLIMIT_NOFILE) == (64, 64)` },
      { name: 'prlimit(ppid, RLIMIT_CORE soft 4096)', code: `hard = resource.prlimit(ppid, resource.RLIMIT_CORE)[1]\nresource.prlimit(ppid, resource.RLIMIT_CORE, (4096, hard))\nchanged = resource.prlimit(ppid, resource.RLIMIT_CORE)[0] == 4096` },
      { name: 'sched_setscheduler(ppid, SCHED_IDLE)', code: `os.sched_setscheduler(ppid, os.SCHED_IDLE, os.sched_param(0))\nchanged = os.sched_getscheduler(ppid) == os.SCHED_IDLE` },
      // ioprio_set(IOPRIO_WHO_PROCESS, ppid, IOPRIO_CLASS_IDLE): allowed for a same-uid process, and inherited by every run S
      // forks. Fails until own_state() (forkserver.py) includes the I/O priority (ioprio_get(IOPRIO_WHO_PROCESS, 0)).
      {
        name: 'ioprio_set(IOPRIO_WHO_PROCESS, ppid, IDLE class)',
        code: `number = {'x86_64': (251, 252), 'aarch64': (30, 31)}[platform.machine()]\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall(number[0], 1, ppid, 3 << 13)\nchanged = libc.syscall(number[1], 1, ppid) == 3 << 13`,
      },
    ];
    for (const attack of attacks) {
      it(`${attack.name} in one run does not persist: the next run has a new fork server and inherits the usual values`, async () => {
        const r0 = await run(broker, `${INHERITED}\nemit(inherited)`);
        assertOk(r0);
        const r1 = await run(broker, `${INHERITED}\nppid = os.getppid()\n${attack.code}\nemit({'changed': changed})`, {}, { guard: true });
        assertOk(r1);
        assertSameSandbox(r0, r1, 'a plain run');
        assert.equal(r1.data!.changed, true, `control: the attack did not change the fork server (${attack.name}); a host with one CPU cannot test affinity`);
        const r2 = await run(broker, `${INHERITED}\nemit(inherited)`);
        assertOk(r2);
        assert.deepEqual(r2.data, r0.data, `the next run inherited what the earlier run did to the fork server (${attack.name})`);
        assertNewSandbox(r1, r2, `${attack.name} changed the fork server`);
      });
    }

    // Fails until pid 1's nice value, rlimits (and affinity, I/O priority) are checked after each run too: a
    // channel between cooperating runs of one sandbox that nothing resets.
    it('bwrap\'s init (pid 1) outlives every run of the sandbox: a run cannot leave its nice value or rlimits changed for the next run to read', async () => {
      const r1 = await run(broker, String.raw`
import os, resource
before = {'nice': os.getpriority(os.PRIO_PROCESS, 1), 'core': resource.prlimit(1, resource.RLIMIT_CORE)}
os.setpriority(os.PRIO_PROCESS, 1, 7)
resource.prlimit(1, resource.RLIMIT_CORE, (12345, before['core'][1]))
emit({'before': before, 'after': {'nice': os.getpriority(os.PRIO_PROCESS, 1), 'core': resource.prlimit(1, resource.RLIMIT_CORE)}})
`, {}, { guard: true });
      assertOk(r1);
      const before = (r1.data as { before: { nice: number; core: number[] } }).before;
      assert.deepEqual((r1.data as { after: unknown }).after, { nice: 7, core: [12345, before.core[1]] }, 'control: the run could not change pid 1');
      const r2 = await run(broker, `import os, resource\nemit({'nice': os.getpriority(os.PRIO_PROCESS, 1), 'core': resource.prlimit(1, resource.RLIMIT_CORE)})`);
      assertOk(r2);
      if (r2.who.server === r1.who.server) assert.deepEqual(r2.data, before, 'the next run of the same sandbox reads what the earlier run wrote into pid 1 (a channel between runs)');
    });
  });

  describe('(f) the fork server\'s channel and the shared stdio', () => {
    it('a run holds no fd 6 or 7 (the fork server\'s channel to the broker): only fds 0-4', async () => {
      const r = await run(broker, String.raw`
import os
def state(fd):
    try:
        os.fstat(fd)
        return 'open'
    except OSError as e:
        return e.strerror
fds = sorted(int(n) for n in os.listdir('/proc/self/fd'))
emit({'6': state(6), '7': state(7), 'fds': fds})
`);
      assertOk(r);
      assert.equal(r.who.ppid, 2);
      assert.equal(r.data!['6'], 'Bad file descriptor', `fd 6: ${JSON.stringify(r.data)}`);
      assert.equal(r.data!['7'], 'Bad file descriptor', `fd 7: ${JSON.stringify(r.data)}`);
      // 0-4 and the fd listdir itself used
      assert.deepEqual((r.data!.fds as number[]).filter((fd) => fd <= 4), [0, 1, 2, 3, 4]);
      assert.ok((r.data!.fds as number[]).filter((fd) => fd > 4).length <= 1, `unexpected fds: ${JSON.stringify(r.data)}`);
    });

    for (const type of ['ended', 'cleaned']) {
      it(`a forged "${type}" message on fd 4 does not pass for the fork server's: the run ends crashed and the next run is served by a new sandbox`, async () => {
        const r0 = await plain();
        const forged = Array.from({ length: 12 }, (_, i) => (type === 'ended'
          ? { type, run: i + 1, exitCode: 0, signal: null }
          : { type, run: i + 1, next: i + 4 }));
        const r1 = await run(broker, `import os\nemit({})\nfor line in ${JSON.stringify(forged.map((m) => JSON.stringify(m)))}:\n    os.write(4, (line + '\\n').encode())\nimport time\ntime.sleep(0.2)`);
        assertSameSandbox(r0, r1, 'a plain run');
        assert.equal(r1.result.status, 'crashed', show(r1.result));
        assert.match(r1.result.message ?? '', /protocol|control/, show(r1.result));
        const r2 = await plain();
        assertOk(r2);
        assertNewSandbox(r1, r2, 'a run that broke the control protocol');
      });
    }
  });

  describe('(f2) the stdio sockets a run shares with the fork server and the runs after it', () => {
    // These attacks may leave the sandbox unusable: each test ends by having the broker replace it (a
    // killed run is never reused), so one failure here does not spill into the next tests.
    afterEach(async () => {
      const killed = await broker.execute({ code: 'import time\ntime.sleep(30)', limits: { timeoutMs: 300 } });
      assert.equal(killed.status, 'timeout', show(killed));
    });

    // fds 0-4 of a run are S's own sockets (shared open file descriptions): what a run does to them, S and
    // every later run of the sandbox inherit. shutdown() is on the socket, not on the fd. The fork server
    // checks flags and socket options after each run; the broker sees a shutdown as EOF or a close on its end.
    for (const fd of [1, 2, 3, 4]) {
      it(`shutdown(SHUT_WR) on fd ${fd} by one run does not break the next run (another client's)`, async () => {
        // With fd 4 the run cannot report its own result; with fd 3 the broker's end of the socket closes (later
        // runs could not be sent their execute) and the fork server, reading EOF there, ends the sandbox. Either
        // way the run may end crashed: its own loss.
        const r1 = await run(broker, `import os, socket\nemit({})\ns = socket.socket(fileno=os.dup(${fd}))\ns.shutdown(socket.SHUT_WR)\ns.close()`);
        if (fd === 1 || fd === 2) assertOk(r1);
        const r2 = await broker.execute({ code: `${WHO}import sys\nprint('victim stdout')\nprint('victim stderr', file=sys.stderr)\n6 * 7` });
        assert.equal(r2.status, 'ok', `the next run was broken by what the earlier run did to fd ${fd}: ${show(r2)}`);
        assert.match(r2.stdout, /victim stdout\n/);
        assert.equal(r2.stderr, 'victim stderr\n');
        assert.deepEqual(r2.value, { 'text/plain': '42' });
      });
    }

    it('O_NONBLOCK set on fd 1 by one run is not inherited by the next run', async () => {
      const FLAGS = `import fcntl, os\nemit({'flags': [fcntl.fcntl(fd, fcntl.F_GETFL) for fd in range(5)]})`;
      const r0 = await run(broker, FLAGS);
      assertOk(r0);
      const r1 = await run(broker, `import fcntl, os\nfcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK)\nemit({})`);
      assertOk(r1);
      const r2 = await run(broker, FLAGS);
      assertOk(r2);
      assert.deepEqual(r2.data!.flags, r0.data!.flags, `the next run inherited O_NONBLOCK on its stdio (${r2.who.server === r1.who.server ? 'same' : 'new'} sandbox)`);
    });

    it('input requests from a run that did not ask for interactive input are answered on fd 3, so its sandbox is not reused', async () => {
      const OWN = 'import sys\nf = sys._getframe()\nwhile f.f_locals.get("message", {}).get("type") != "execute": f = f.f_back\nrid = f.f_locals["message"]["id"]';
      const r1 = await run(broker, `${OWN}\nimport json, os\nfor seq in range(1, 200):\n    os.write(4, (json.dumps({"type": "input", "id": rid, "seq": seq, "prompt": "x" * 1000, "password": False}) + "\\n").encode())\nemit({})`);
      assertOk(r1);
      const r2 = await run(broker, 'emit({})');
      assertOk(r2);
      assertNewSandbox(r1, r2, 'replies to input requests were written on fd 3 after the execute');
    });

    it('SO_RCVLOWAT set on fd 3 by one run does not stall the next run', async () => {
      const r1 = await run(broker, `import os, socket\ns = socket.socket(fileno=os.dup(3))\ns.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1 << 20)\ns.close()\nemit({})`);
      assertOk(r1);
      const r2 = await broker.execute({ code: 'print("victim")', limits: { timeoutMs: 5000 } });
      assert.equal(r2.status, 'ok', `the next run was stalled by SO_RCVLOWAT on the shared fd 3: ${show(r2)}`);
    });
  });

  describe('(f3) the first run of a fresh sandbox', () => {
    it('runs in the sandbox\'s cgroup, like the fork server (it is forked right after ready)', async function () {
      if (broker.init.capabilities.isolation.sandboxLimits.memory !== 'cgroup') this.skip(); // no cgroup on this host: nothing to join
      const memoryCgroup = (pid: number): string | undefined => {
        try {
          return readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((line) => /:memory:|^0::/.test(line));
        } catch {
          return undefined; // gone
        }
      };
      // A race (the first fork against the server's join): with the re-walk removed, 1 run in 12 had its
      // process outside. Seen from the host: the cgroup of every process of the sandbox, during the run.
      let outside = 0;
      for (let i = 0; i < 24; i++) {
        // A killed run retires its sandbox: the next run is the first of a fresh one.
        await broker.execute({ code: 'import time\ntime.sleep(30)', limits: { timeoutMs: 100 } });
        const first = broker.execute({ code: 'import time\ntime.sleep(0.3)' });
        await new Promise((resolve) => setTimeout(resolve, 200));
        const groups = treeByChildren(broker.pid).filter((stat) => stat.pid !== broker.pid).map((stat) => memoryCgroup(stat.pid)).filter(Boolean);
        if (groups.some((group) => !group!.includes('/pycell-'))) outside += 1;
        assert.equal((await first).status, 'ok');
      }
      assert.equal(outside, 0, `${outside} of 24 first runs had a process outside the sandbox's cgroup`);
    });
  });

  describe('(g) randomness', () => {
    it('random, os.urandom, uuid4, secrets and random.getstate() differ across consecutive runs of the same sandbox', async () => {
      const code = String.raw`
import hashlib, os, random, secrets, uuid
emit({'random': random.random(), 'bits': str(random.getrandbits(128)), 'urandom': os.urandom(16).hex(), 'uuid': str(uuid.uuid4()),
      'secrets': secrets.token_hex(16), 'state': hashlib.sha256(repr(random.getstate()).encode()).hexdigest()})
`;
      const runs: Ran<Record<string, string>>[] = [];
      for (let i = 0; i < 3; i++) runs.push(await run<Record<string, string>>(broker, code));
      for (const r of runs) assertOk(r);
      assertSameSandbox(runs[0]!, runs[1]!, 'plain runs');
      assertSameSandbox(runs[0]!, runs[2]!, 'plain runs');
      for (const key of Object.keys(runs[0]!.data!)) {
        const values = runs.map((r) => r.data![key]);
        assert.equal(new Set(values).size, values.length, `${key} repeated across runs of one sandbox: ${JSON.stringify(values)}`);
      }
    });
  });

  describe('(h) memory of earlier runs', () => {
    /**
     * scan(needles) reads every readable mapping of the run's own process (/proc/self/maps + /proc/self/mem)
     * and counts each token. A needle is (prefix, sha256 of the rest, length of the rest): the scanner holds
     * only the prefix, never the whole token, so it cannot find itself.
     */
    const SCAN = String.raw`
import hashlib, os
def scan(needles):
    found = {prefix.decode(): 0 for prefix, _, _ in needles}
    regions = 0
    with open('/proc/self/maps') as maps:
        lines = maps.readlines()
    mem = os.open('/proc/self/mem', os.O_RDONLY)
    try:
        for line in lines:
            fields = line.split()
            if not fields[1].startswith('r'):
                continue
            start, end = (int(x, 16) for x in fields[0].split('-'))
            try:
                data = os.pread(mem, end - start, start)
            except OSError:
                continue
            regions += 1
            for prefix, digest, n in needles:
                i = data.find(prefix)
                while i >= 0:
                    if hashlib.sha256(data[i + len(prefix):i + len(prefix) + n]).hexdigest() == digest:
                        found[prefix.decode()] += 1
                    i = data.find(prefix, i + 1)
            del data
    finally:
        os.close(mem)
    return found, regions
`;
    const token = (what: string): { prefix: string; full: string; needle: string } => {
      const prefix = `PYCELLTOKEN-${what}-${randomBytes(4).toString('hex')}-`;
      const rest = randomBytes(12).toString('hex');
      return { prefix, full: prefix + rest, needle: `(${JSON.stringify(prefix)}.encode(), ${JSON.stringify(createHash('sha256').update(rest).digest('hex'))}, ${rest.length})` };
    };

    it('tokens in run 1\'s code, stdin and input file are found by a scan of run 1\'s own memory (control) but not by the same scan in run 2 of the same sandbox', async () => {
      const tokens = { code: token('code'), stdin: token('stdin'), file: token('file') };
      const needles = `[${Object.values(tokens).map((t) => t.needle).join(', ')}]`;
      const r1 = await run<[Record<string, number>, number]>(broker, `${SCAN}
import sys
secret = ${JSON.stringify(tokens.code.full)}
stdin = sys.stdin.read()
with open('input.txt') as f:
    content = f.read()
emit(scan(${needles}))
`, { stdin: `${tokens.stdin.full}\n`, files: [{ path: 'input.txt', content: Buffer.from(tokens.file.full).toString('base64') }] });
      assertOk(r1);
      const [found1, regions1] = r1.data!;
      assert.ok(regions1 > 10, `control: few regions scanned (${regions1})`);
      for (const [name, t] of Object.entries(tokens)) assert.ok(found1[t.prefix]! >= 1, `control: the scanner did not find the ${name} token in the run that holds it: ${JSON.stringify(found1)}`);
      const r2 = await run<[Record<string, number>, number]>(broker, `${SCAN}\nemit(scan(${needles}))`);
      assertOk(r2);
      assertSameSandbox(r1, r2, 'a clean run');
      const [found2, regions2] = r2.data!;
      assert.ok(regions2 > 10, `few regions scanned (${regions2})`);
      for (const [name, t] of Object.entries(tokens)) assert.equal(found2[t.prefix], 0, `run 1's ${name} token is in run 2's memory: ${JSON.stringify(found2)}`);
    });
  });

  describe('(i) runs that are never reused', () => {
    let interactive: BrokerClient;
    before(async () => {
      const mod = await clientModule();
      interactive = await mod.spawnBroker({
        args: [...DEFAULT_ARGS, '--isolation', 'process', '--pool-size', '1'], stderr: 'ignore',
        initialize: { clientInfo: { name: 'pycell-security-tests' }, capabilities: { interactiveInput: true } },
      });
    });
    after(() => interactive?.close());

    it('an interactive run (input() answered by the client) is not followed by another run in its sandbox', async () => {
      const r0 = await run(interactive, 'emit({})');
      const r1 = await run(interactive, `answer = input('name? ')\nemit({'answer': answer})`, {}, { onInput: () => 'Ada' });
      assertOk(r1);
      assert.equal(r1.data!.answer, 'Ada');
      assertSameSandbox(r0, r1, 'a plain run');
      const r2 = await run(interactive, 'emit({})');
      assertOk(r2);
      assertNewSandbox(r1, r2, 'an interactive run');
    });

    it('a run killed for its timeout, cpu or output limit is not followed by another run in its sandbox; a run ending in an exception is (control)', async () => {
      const cases: { code: string; params: Omit<ExecuteParams, 'code'>; status: string }[] = [
        { code: 'import time\ntime.sleep(30)', params: { limits: { timeoutMs: 1000 } }, status: 'timeout' },
        { code: 'while True: pass', params: { limits: { cpuMs: 300, timeoutMs: 20_000 } }, status: 'cpu_limit' },
        { code: 'import sys\nwhile True: sys.stdout.write("x" * 65536)', params: { limits: { maxOutputBytes: 100_000 } }, status: 'output_limit' },
      ];
      for (const c of cases) {
        const r0 = await run(interactive, 'emit({})');
        const r1 = await run(interactive, c.code, c.params);
        assert.equal(r1.result.status, c.status, show(r1.result));
        assertSameSandbox(r0, r1, 'a plain run');
        const r2 = await run(interactive, 'emit({})');
        assertOk(r2);
        assertNewSandbox(r1, r2, `a run that ended as ${c.status}`);
      }
      const e1 = await run(interactive, 'raise ValueError("fine")');
      assert.equal(e1.result.status, 'error', show(e1.result));
      const e2 = await run(interactive, 'emit({})');
      assertSameSandbox(e1, e2, 'control: a run that raised is reused');
    });
  });

  describe('(j) --process-runs', () => {
    it('with --process-runs 3 the 4th run is served by a new sandbox, and the 7th', async () => {
      const limited = await startBroker({ args: ['--isolation', 'process', '--pool-size', '1', '--process-runs', '3'] });
      try {
        const runs: Ran<unknown>[] = [];
        for (let i = 0; i < 7; i++) runs.push(await run(limited, 'emit({})'));
        for (const r of runs) assertOk(r);
        const servers = runs.map((r) => r.who.server);
        assert.equal(new Set(servers.slice(0, 3)).size, 1, JSON.stringify(servers));
        assert.equal(new Set(servers.slice(3, 6)).size, 1, JSON.stringify(servers));
        assert.notEqual(servers[3], servers[2], `the 4th run reused the sandbox: ${JSON.stringify(servers)}`);
        assert.notEqual(servers[6], servers[5], `the 7th run reused the sandbox: ${JSON.stringify(servers)}`);
        assert.equal(new Set(servers).size, 3, JSON.stringify(servers));
      } finally {
        await limited.close();
      }
    });
  });

  describe('(k) the isolation parameter', () => {
    it('isolation "sandbox" on a process broker runs in a fresh sandbox: no fork server, the agent is pid 2 under bwrap\'s init; the process pool is untouched', async () => {
      const r0 = await plain();
      const fresh = await run(broker, `import os\nemit({'pids': ${PIDS}})`, { isolation: 'sandbox' });
      assertOk(fresh);
      assert.equal(fresh.who.ppid, 1, JSON.stringify(fresh.who));
      assert.equal(fresh.who.pid, 2, JSON.stringify(fresh.who));
      assert.deepEqual(fresh.data!.pids, [1, 2]);
      assert.notEqual(fresh.who.server, r0.who.server);
      const again = await run(broker, `import os\nemit({})`, { isolation: 'sandbox' });
      assert.notEqual(again.who.server.split('@')[0], fresh.who.server.split('@')[0], 'two "sandbox" runs shared a pid namespace');
      const r1 = await plain();
      assertSameSandbox(r0, r1, 'a plain run before and after the sandbox-isolation runs');
    });

    it('isolation "process" on a default (sandbox) broker is refused with -32602 naming params.isolation', async () => {
      const strict = await startBroker();
      try {
        await assert.rejects(strict.execute({ code: 'print(1)', isolation: 'process' }), (error: { code?: number; message?: string }) => {
          assert.equal(error.code, -32602);
          assert.match(error.message ?? '', /params\.isolation/);
          return true;
        });
        const ok = await strict.execute({ code: 'print(1)', isolation: 'sandbox' });
        assert.equal(ok.status, 'ok', show(ok));
      } finally {
        await strict.close();
      }
    });

    it('isolation together with session is refused with -32602 naming params.isolation', async () => {
      const session = await broker.client.openSession();
      try {
        for (const isolation of ['sandbox', 'process'] as const) {
          await assert.rejects(broker.execute({ code: 'print(1)', session: session.id, isolation }), (error: { code?: number; message?: string }) => {
            assert.equal(error.code, -32602);
            assert.match(error.message ?? '', /params\.isolation/);
            return true;
          });
        }
      } finally {
        await session.close();
      }
    });
  });

  describe('(l) fork bombs', () => {
    it('a fork bomb capped by maxProcesses and pid-churning processes in one run do not keep the next run from running, and nothing of them is left', async () => {
      const r1 = await run(broker, String.raw`
import os, time
forked, failure = 0, None
for i in range(2000):
    try:
        pid = os.fork()
    except OSError as e:
        failure = e.errno
        break
    if pid == 0:
        if i % 2:
            while True:  # a process whose pid keeps changing: fork, and let the parent exit
                try:
                    if os.fork():
                        os._exit(0)
                except OSError:
                    pass
        time.sleep(30)
        os._exit(0)
    forked += 1
time.sleep(0.3)
emit({'forked': forked, 'errno': failure})
`, { limits: { maxProcesses: 16, timeoutMs: 10_000 } }, { guard: true });
      assertOk(r1);
      assert.equal(r1.data!.errno, 11, `fork did not fail with EAGAIN: ${JSON.stringify(r1.data)}`);
      assert.ok((r1.data!.forked as number) < 16);
      const r2 = await run(broker, `import os\nemit({'pids': ${PIDS}, 'me': os.getpid()})`);
      assertOk(r2);
      assert.deepEqual(r2.data!.pids, [1, 2, r2.data!.me], `processes of the fork bomb survived: ${JSON.stringify(r2.data)}`);
    });
  });
});
