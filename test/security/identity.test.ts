import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { EMIT, JSON_MARK, probe, scanHost, settled, startBroker, subtree, type SecurityBroker } from './harness.js';

const runningAsRoot = process.getuid?.() === 0;

/**
 * THREATS: running as root — a sandbox whose uid maps to host root can read root-only files and open
 * /proc/sys/* for writing. Issue 2: the sandbox never runs as host root (bwrap is started as an
 * unprivileged uid when the broker is root), capabilities dropped, nested user namespaces disabled,
 * a fixed hostname.
 */
describe('security: identity and privileges inside the sandbox', function () {
  this.timeout(30_000);
  let broker: SecurityBroker;
  let uids: { first: number; count: number };
  const isSandboxUid = (uid: number): boolean => uid >= uids.first && uid < uids.first + uids.count;

  before(async () => {
    broker = await startBroker();
    uids = broker.init.capabilities.isolation.sandboxUids!;
  });
  after(async () => broker?.close());

  it('initialize reports unprivileged sandbox uids (1800000000 and up by default when the broker is root)', () => {
    assert.ok(uids.first > 0);
    if (runningAsRoot) assert.deepEqual(uids, { first: 1_800_000_000, count: 4096 });
    else assert.deepEqual(uids, { first: process.getuid!(), count: 1 });
  });

  it('when the broker is root, every live sandbox runs as a host uid of its own (RLIMIT_NPROC then counts one sandbox)', async function () {
    if (!runningAsRoot) this.skip(); // without root there is one uid to run as: the broker's
    await settled(broker);
    const all = scanHost();
    const sandboxes = subtree(broker.pid, all).filter((p) => p.ppid === broker.pid && p.comm === 'bwrap');
    assert.ok(sandboxes.length >= 2, `expected the two warm sandboxes, found ${sandboxes.length}`);
    const owners = sandboxes.map((sandbox) => new Set(subtree(sandbox.pid, all).map((p) => p.uid)));
    for (const owner of owners) {
      assert.equal(owner.size, 1, 'one sandbox, one uid');
      assert.ok(isSandboxUid([...owner][0]!), `uid ${[...owner][0]} is outside the sandbox range`);
    }
    const distinct = new Set(owners.map((owner) => [...owner][0]));
    assert.equal(distinct.size, sandboxes.length, 'two live sandboxes share a host uid');
  });

  it('uid/gid inside are not 0, only one uid is mapped, and on the host every sandbox process runs as the sandbox uid', async () => {
    let host: { uids: Record<number, string>; uidMap: string; gidMap: string; found: number } | undefined;
    const code = `${EMIT}import os, time
emit({'ids': [os.getuid(), os.geteuid(), os.getgid(), os.getegid()], 'groups': os.getgroups(), 'resuid': list(os.getresuid()),
      'uid_map': open('/proc/self/uid_map').read(), 'gid_map': open('/proc/self/gid_map').read(), 'pidns': os.readlink('/proc/self/ns/pid')})
time.sleep(1.0)
`;
    const result = await broker.execute({ code }, {
      onOutput: (stream, text) => {
        if (stream !== 'stdout' || !text.includes(JSON_MARK) || host) return;
        const pidns = (JSON.parse(text.slice(text.indexOf(JSON_MARK) + JSON_MARK.length).split('\n')[0]!) as { pidns: string }).pidns;
        // The host view of the same sandbox: find its processes by their pid namespace.
        const all = scanHost();
        const tree = subtree(broker.pid, all).filter((p) => p.pid !== broker.pid);
        const inSandbox = tree.filter((p) => {
          try {
            return readlinkSync(`/proc/${p.pid}/ns/pid`) === pidns;
          } catch {
            return false;
          }
        });
        const agent = inSandbox.find((p) => p.cmdline.includes('/pycell/agent/main.py'));
        const uids: Record<number, string> = {};
        for (const p of tree) {
          try {
            uids[p.pid] = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${p.pid}/status`, 'latin1'))![1]!;
          } catch {
            // gone
          }
        }
        host = {
          uids,
          uidMap: agent ? readFileSync(`/proc/${agent.pid}/uid_map`, 'latin1') : '',
          gidMap: agent ? readFileSync(`/proc/${agent.pid}/gid_map`, 'latin1') : '',
          found: inSandbox.length,
        };
      },
    });
    assert.equal(result.status, 'ok', JSON.stringify(result));
    const data = JSON.parse(result.stdout.split('\n').find((l) => l.startsWith(JSON_MARK))!.slice(JSON_MARK.length)) as {
      ids: number[]; groups: number[]; resuid: number[]; uid_map: string; gid_map: string;
    };
    assert.ok(data.ids.every((id) => id !== 0), `ids inside: ${data.ids}`);
    assert.ok(data.resuid.every((id) => id !== 0), `saved uid inside: ${data.resuid}`);
    assert.ok(!data.groups.includes(0));
    // Inside: exactly one id mapped (uid 0 of the sandbox's namespace does not exist), and it is ours.
    for (const [map, id] of [[data.uid_map, data.ids[0]], [data.gid_map, data.ids[2]]] as const) {
      const lines = map.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
      assert.equal(lines.length, 1, map);
      assert.equal(lines[0]![0], id, map);
      assert.equal(lines[0]![2], 1, map);
    }
    // Host: the map read from the initial namespace sends the inside uid to the sandbox uid, never 0.
    assert.ok(host && host.found >= 2, `did not find the running sandbox on the host: ${JSON.stringify(host)}`);
    const hostMap = host.uidMap.trim().split(/\s+/).map(Number);
    assert.equal(hostMap[0], data.ids[0], host.uidMap);
    assert.ok(isSandboxUid(hostMap[1]!), `inside uid ${data.ids[0]} maps to host uid ${hostMap[1]}`);
    assert.notEqual(hostMap[1], 0);
    const hostGid = host.gidMap.trim().split(/\s+/).map(Number);
    assert.notEqual(hostGid[1], 0, host.gidMap);
    // Every process under the broker (bubblewrap included) runs as the sandbox uid: real, effective, saved, fs.
    const wrong = Object.entries(host.uids).filter(([, ids]) => ids.split(/\s+/).some((u) => !isSandboxUid(Number(u))));
    assert.deepEqual(wrong, [], 'processes under the broker not running as the sandbox uid');
  });

  it('has no capabilities at all (CapInh/CapPrm/CapEff/CapBnd/CapAmb are zero), nor does pid 1', async () => {
    const code = String.raw`
def caps(pid):
    out = {}
    for line in open('/proc/%s/status' % pid):
        if line.startswith('Cap'):
            k, v = line.split(':')
            out[k] = v.strip()
    return out
emit({'self': caps('self'), 'init': caps(1)})
`;
    const { data } = await probe<{ self: Record<string, string>; init: Record<string, string> }>(broker, code);
    const zero = '0000000000000000';
    assert.deepEqual(data.self, { CapInh: zero, CapPrm: zero, CapEff: zero, CapBnd: zero, CapAmb: zero });
    assert.equal(data.init.CapEff, zero, JSON.stringify(data.init));
    assert.equal(data.init.CapPrm, zero, JSON.stringify(data.init));
  });

  it('cannot make a nested user namespace (unshare via ctypes, and the unshare tool), nor other namespaces', async () => {
    const code = String.raw`
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
out = {}
for name, flag in [('user', 0x10000000), ('net', 0x40000000), ('mnt', 0x00020000), ('pid', 0x20000000), ('uts', 0x04000000), ('user+mnt', 0x10020000)]:
    rc = libc.unshare(flag)
    out[name] = [rc, ctypes.get_errno()]
tool = subprocess.run(['/usr/bin/unshare', '-U', '-r', '/usr/bin/id', '-u'], capture_output=True, text=True) if os.path.exists('/usr/bin/unshare') else None
emit({'unshare': out, 'tool': None if tool is None else [tool.returncode, tool.stdout, tool.stderr[-200:]]})
`;
    const { data } = await probe<{ unshare: Record<string, [number, number]>; tool: [number, string, string] | null }>(broker, code);
    for (const [name, [rc, errno]] of Object.entries(data.unshare)) {
      assert.equal(rc, -1, `unshare(${name}) succeeded`);
      assert.ok([1, 28, 22].includes(errno), `unshare(${name}) errno ${errno}`); // EPERM, ENOSPC (max_user_namespaces=0), EINVAL
    }
    if (data.tool) {
      assert.notEqual(data.tool[0], 0, `unshare -U -r succeeded: ${data.tool[1]}`);
      assert.notEqual(data.tool[1].trim(), '0');
    }
  });

  it("the hostname is 'pycell' and cannot be changed", async () => {
    const code = String.raw`
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.sethostname(b'pwned', 5)
emit({'gethostname': socket.gethostname(), 'uname': os.uname().nodename, 'proc': open('/proc/sys/kernel/hostname').read().strip(),
      'sethostname': [rc, ctypes.get_errno()], 'after': socket.gethostname()})
`;
    const { data } = await probe(broker, code);
    assert.deepEqual(data, { gethostname: 'pycell', uname: 'pycell', proc: 'pycell', sethostname: [-1, 1], after: 'pycell' });
  });

  it('root-owned files are not writable, and no identity change works (setuid(0), setgroups, chown, chmod)', async () => {
    const code = String.raw`
import os, sys
exe = os.path.realpath(sys.executable)
out = {'access_w': os.access(exe, os.W_OK)}
def attempt(name, fn):
    try:
        fn()
        out[name] = 'SUCCEEDED'
    except OSError as e:
        out[name] = e.errno
attempt('open_rw', lambda: os.close(os.open(exe, os.O_WRONLY)))
attempt('chmod', lambda: os.chmod(exe, 0o777))
attempt('chown', lambda: os.chown(exe, os.getuid(), os.getgid()))
attempt('utime', lambda: os.utime(exe, (0, 0)))
attempt('unlink_usr', lambda: os.unlink('/usr/bin/env'))
attempt('setuid0', lambda: os.setuid(0))
attempt('setgid0', lambda: os.setgid(0))
attempt('setgroups', lambda: os.setgroups([0]))
attempt('setresuid0', lambda: os.setresuid(0, 0, 0))
emit(out)
`;
    const { data } = await probe<Record<string, boolean | number | string>>(broker, code);
    assert.equal(data.access_w, false);
    const succeeded = Object.entries(data).filter(([k, v]) => k !== 'access_w' && typeof v !== 'number');
    assert.deepEqual(succeeded, [], JSON.stringify(data));
  });

  it('nothing host-wide under /proc/sys (nor /proc/sysrq-trigger) opens for writing; the sysctls that do belong to the sandbox\'s own namespaces', async () => {
    const code = String.raw`
import os
opened, tried = [], 0
paths = ['/proc/sysrq-trigger']
for root, dirs, names in os.walk('/proc/sys'):
    paths += [os.path.join(root, n) for n in names]
for p in paths:
    tried += 1
    try:
        fd = os.open(p, os.O_WRONLY)  # opened only: nothing is ever written
    except OSError:
        continue
    os.close(fd)
    opened.append(p)
emit({'opened': opened, 'tried': tried, 'ns': {n: os.readlink('/proc/self/ns/' + n) for n in ('ipc', 'pid', 'uts', 'net', 'user')}})
`;
    const { data } = await probe<{ opened: string[]; tried: number; ns: Record<string, string> }>(broker, code);
    assert.ok(data.tried > 100, `only ${data.tried} /proc/sys files seen`);
    // /proc is mounted read-only: not even the sysctls of the sandbox's own ipc and pid namespaces open for writing.
    assert.deepEqual(data.opened, [], '/proc/sys files open for writing inside the sandbox');
    assert.notEqual(data.ns.ipc, readlinkSync('/proc/self/ns/ipc'), 'the ipc namespace is the sandbox\'s own');
    assert.notEqual(data.ns.pid, readlinkSync('/proc/self/ns/pid'), 'the pid namespace is the sandbox\'s own');
  });

  it('no terminal to inject keystrokes into: TIOCSTI on every fd fails and /dev/tty cannot be opened (new session)', async () => {
    const code = [
      'import errno, fcntl, os, termios',
      'out = []',
      'for fd in range(5):',
      '    try:',
      '        fcntl.ioctl(fd, termios.TIOCSTI, b"x"); out.append("%d:injected" % fd)',
      '    except OSError as e:',
      '        out.append("%d:%s" % (fd, errno.errorcode[e.errno]))',
      'try:',
      '    os.open("/dev/tty", os.O_RDWR); out.append("tty:opened")',
      'except OSError as e:',
      '    out.append("tty:" + errno.errorcode[e.errno])',
      'print(" ".join(out), os.getsid(0) == os.getpid())',
    ].join('\n');
    const result = await broker.execute({ code });
    // seccomp answers TIOCSTI before the kernel sees that no fd is a terminal (ENOTTY without the filter).
    assert.equal(result.stdout, '0:EPERM 1:EPERM 2:EPERM 3:EPERM 4:EPERM tty:ENXIO False\n');
  });
});
