import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConfig } from '../../src/config.js';
import { assertGuardPassed, guarded } from './guard.js';
import { probe, randomTag, startBroker, type SecurityBroker } from './harness.js';

const MiB = 1024 * 1024;
const config = makeConfig({}); // the broker is started with the defaults: workspace and /dev/shm sizes
// etc: only Debian's alternatives links into /usr and the allowlisted ETC_FILES (see the /etc test below).
const ALLOWED_ROOT = new Set(['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'pycell', 'proc', 'dev', 'tmp', 'etc']);
const WRITE_ERRNOS = new Set([1, 2, 13, 30]); // EPERM, ENOENT, EACCES, EROFS

/**
 * THREATS: host files — home directories, /etc/shadow, the broker's own directory and config, /tmp of
 * the host, sockets under /run. Issue 2: read-only binds of only what the interpreter needs, /proc not
 * writable, a minimal /dev, and one size-limited tmpfs as the working directory.
 */
describe('security: host files are out of reach', function () {
  this.timeout(30_000);
  const tag = randomTag();
  const markerName = `pycell-host-marker-${tag}`;
  const markerDir = join(tmpdir(), `pycell-host-dir-${tag}`);
  const markerContent = `host-tmp-content-${tag}`;
  let broker: SecurityBroker;

  before(async () => {
    writeFileSync(join(tmpdir(), markerName), markerContent, { mode: 0o644 });
    mkdirSync(markerDir, { mode: 0o755 });
    writeFileSync(join(markerDir, 'inside'), markerContent, { mode: 0o644 });
    broker = await startBroker();
  });
  after(async () => {
    await broker?.close();
    rmSync(join(tmpdir(), markerName), { force: true });
    rmSync(markerDir, { recursive: true, force: true });
  });

  it('host paths are absent or unreadable inside: /etc/shadow, /etc/passwd, /root, /home, /run, host /tmp, the checkout, /work', async () => {
    const paths = [
      '/etc/shadow', '/etc/passwd', '/etc/hostname', '/etc/alternatives/../passwd', '/root', '/home', '/run', '/var', '/sys', '/work', '/mnt', '/opt', '/srv',
      homedir(), process.cwd(), join(process.cwd(), 'package.json'), join(tmpdir(), markerName), markerDir, join(markerDir, 'inside'),
    ];
    const code = String.raw`
import os
out = {}
for p in PATHS:
    entry = {'exists': os.path.exists(p) or os.path.lexists(p)}
    try:
        if os.path.isdir(p):
            entry['listed'] = sorted(os.listdir(p))[:20]
        else:
            with open(p, 'rb') as f:
                entry['read'] = f.read(200).decode('latin1')
    except OSError as e:
        entry['errno'] = e.errno
    out[p] = entry
emit(out)
`.replace('PATHS', JSON.stringify(paths));
    const { data } = await probe<Record<string, { exists: boolean; listed?: string[]; read?: string; errno?: number }>>(broker, code);
    const visible = Object.entries(data).filter(([, e]) => e.exists || e.listed !== undefined || e.read !== undefined);
    assert.deepEqual(visible, [], `host paths visible inside the sandbox: ${JSON.stringify(visible)}`);
  });

  it('/etc holds nothing but alternatives links into /usr (numpy finds libblas through them), matplotlibrc and fonts', async () => {
    const code = String.raw`
import os
etc = sorted(os.listdir('/etc')) if os.path.isdir('/etc') else []
links = {n: os.readlink('/etc/alternatives/' + n) for n in os.listdir('/etc/alternatives')} if 'alternatives' in etc else {}
emit({'etc': etc, 'notSymlinks': [n for n in links if not os.path.islink('/etc/alternatives/' + n)], 'outsideUsr': [t for t in links.values() if not t.startswith('/usr/')]})
`;
    const { data } = await probe<{ etc: string[]; notSymlinks: string[]; outsideUsr: string[] }>(broker, code);
    assert.deepEqual(data.etc.filter((name) => !['alternatives', 'matplotlibrc', 'fonts'].includes(name)), [], `/etc lists ${JSON.stringify(data.etc)}`);
    assert.deepEqual([data.notSymlinks, data.outsideUsr], [[], []]);
  });

  it('the root directory holds only the sandbox layout, and nothing outside /usr and /proc names or holds host /tmp content', async () => {
    const code = String.raw`
import os, stat
hits, sockets, files = [], [], 0
for top in sorted(os.listdir('/')):
    if top in ('usr', 'proc', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'):
        continue  # /usr is the host's, read-only, by design; the lib/bin entries are symlinks into it
    for root, dirs, names in os.walk('/' + top, followlinks=False):
        for name in dirs + names:
            path = os.path.join(root, name)
            if MARKER_NAME in name:
                hits.append(path)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISSOCK(st.st_mode):
                sockets.append(path)
            if stat.S_ISREG(st.st_mode) and not path.startswith('/dev/'):
                files += 1
                try:
                    with open(path, 'rb') as f:
                        if MARKER_CONTENT in f.read():
                            hits.append(path)
                except OSError:
                    pass
emit({'root': sorted(os.listdir('/')), 'hits': hits, 'sockets': sockets, 'files': files})
`.replace('MARKER_NAME', JSON.stringify(tag)).replace('MARKER_CONTENT', `${JSON.stringify(markerContent)}.encode()`);
    const { data } = await probe<{ root: string[]; hits: string[]; sockets: string[]; files: number }>(broker, code);
    assert.deepEqual(data.hits, [], 'the host /tmp marker (name or content) is visible inside');
    assert.deepEqual(data.root.filter((name) => !ALLOWED_ROOT.has(name)), [], `unexpected top-level entries: ${data.root.join(' ')}`);
    assert.deepEqual(data.sockets, [], 'unix sockets reachable by path');
    assert.ok(data.files > 5, `the walk read ${data.files} files: it did not really look`);
  });

  it('/dev is minimal', async () => {
    const { data } = await probe<{ dev: string[] }>(broker, "import os\nemit({'dev': sorted(os.listdir('/dev'))})");
    const allowed = new Set(['core', 'fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
    assert.deepEqual(data.dev.filter((d) => !allowed.has(d)), []);
  });

  it('writes anywhere outside the working directory fail: /, /pycell, /usr, /pycell/agent, /dev, /proc/sys', async () => {
    const targets = ['/pycell-probe', '/pycell/pycell-probe', '/usr/pycell-probe', '/usr/lib/pycell-probe', '/bin/pycell-probe', '/pycell/agent/pycell-probe', '/pycell/agent/main.py', '/dev/pycell-probe', '/dev/shm/../pycell-probe', '/proc/sys/kernel/hostname', '/proc/sys/vm/drop_caches', '/proc/sysrq-trigger'];
    const code = String.raw`
import os
out = {}
for p in TARGETS:
    try:
        with open(p, 'a') as f:
            f.write('1')
        out[p] = 'WROTE'
    except OSError as e:
        out[p] = e.errno
for d in ('/pycell-dir', '/usr/pycell-dir', '/pycell/agent/pycell-dir'):
    try:
        os.mkdir(d)
        out['mkdir ' + d] = 'WROTE'
    except OSError as e:
        out['mkdir ' + d] = e.errno
st = os.statvfs('/')
# The control: the working directory is writable.
with open('/tmp/ok', 'w') as f:
    f.write('ok')
emit({'writes': out, 'rootBytes': st.f_blocks * st.f_frsize, 'tmpOk': open('/tmp/ok').read()})
`.replace('TARGETS', JSON.stringify(targets));
    const { data } = await probe<{ writes: Record<string, number | string>; rootBytes: number; tmpOk: string }>(broker, code);
    assert.equal(data.tmpOk, 'ok');
    const succeeded = Object.entries(data.writes).filter(([, v]) => !WRITE_ERRNOS.has(v as number));
    assert.deepEqual(succeeded, [], `writes outside the working directory succeeded (the root filesystem is ${data.rootBytes} bytes): ${JSON.stringify(data.writes)}`);
  });

  /** Fills a mount with 1 MiB writes until the kernel says ENOSPC; refuses unless the mount is the sandbox's small one. */
  const fillCode = (path: string, size: number): string => guarded(String.raw`
import os, json
st = os.statvfs(PATH)
total = st.f_blocks * st.f_frsize
if total > 4 * SIZE:
    print('REFUSED: %s is %d bytes, not the sandbox one' % (PATH, total))
    os._exit(99)
written, failure = 0, None
for i in range(CAP // (4 << 20)):
    try:
        with open(os.path.join(PATH, 'fill-%d' % i), 'wb') as f:
            for _ in range(4):
                f.write(b'x' * (1 << 20))
                f.flush()
                written += 1 << 20
    except OSError as e:
        failure = e.errno
        break
mount = [l.split() for l in open('/proc/self/mountinfo') if l.split()[4] == PATH]
print('@@FILL@@' + json.dumps({'total': total, 'written': written, 'failure': failure, 'mount': mount}))
`)
    .replaceAll('PATH', JSON.stringify(path))
    .replaceAll('SIZE', String(size))
    .replace('CAP', String(size + 16 * MiB));

  const fills: [string, string, number][] = [
    ['the working directory /tmp', '/tmp', config.workspaceBytes],
    ['/dev/shm', '/dev/shm', config.shmBytes],
  ];
  for (const [name, path, size] of fills) {
    it(`${name} is a tmpfs of ${size / MiB} MiB: filling it ends in ENOSPC`, async () => {
      const result = await broker.execute({ code: fillCode(path, size), limits: { timeoutMs: 20_000 } });
      assertGuardPassed(result);
      assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 1000));
      const line = result.stdout.split('\n').find((l) => l.startsWith('@@FILL@@'));
      assert.ok(line, JSON.stringify(result).slice(0, 1000));
      const data = JSON.parse(line.slice('@@FILL@@'.length)) as { total: number; written: number; failure: number | null; mount: string[][] };
      assert.equal(data.total, size);
      assert.equal(data.failure, 28, `no ENOSPC after ${data.written} bytes`); // ENOSPC
      assert.ok(data.written <= size, `${data.written} bytes written`);
      assert.equal(data.mount.length, 1);
      const mount = data.mount[0]!;
      assert.equal(mount[mount.indexOf('-') + 1], 'tmpfs', mount.join(' '));
    });
  }

  it('files written by one run are gone for the next (a fresh tmpfs each time)', async () => {
    const first = await probe(broker, "open('/tmp/planted', 'w').write('x')\nemit({})");
    assert.equal(first.result.status, 'ok');
    const { data } = await probe<{ tmp: string[] }>(broker, `import os\nemit({'tmp': sorted(os.listdir('/tmp'))})`);
    assert.deepEqual(data.tmp, []);
  });
});
