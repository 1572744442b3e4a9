import assert from 'node:assert/strict';
import type { ExecuteResult } from '../../src/client/index.js';
import { startBroker, type SecurityBroker } from './harness.js';

type FileEntry = NonNullable<ExecuteResult['files']>[number];
const contentOf = (entry: FileEntry | undefined): string | undefined => (entry && 'content' in entry ? Buffer.from(entry.content, 'base64').toString('utf8') : undefined);

/**
 * Files out (returnFiles): collected inside the sandbox by the agent, never by following a path on the
 * host; bounded in count, bytes, depth, entries and time; hostile trees (THREATS: disk, sparse files,
 * symlinks, FIFOs, bad names) give error entries or nothing, never a hang, a crash or a host file.
 */
describe('security: files out of the sandbox', function () {
  this.timeout(60_000);
  let broker: SecurityBroker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker?.close());

  const run = (code: string, returnFiles: boolean | string[] = true, limits = {}): Promise<ExecuteResult> => broker.execute({ code, returnFiles, limits });

  it('returns the files the run created or changed, not the input files it left alone', async () => {
    const result = await broker.execute({
      code: 'open("made.txt", "w").write("new\\n")\nopen("changed.txt", "a").write("more\\n")',
      files: [{ path: 'kept.txt', content: Buffer.from('input\n').toString('base64') }, { path: 'changed.txt', content: Buffer.from('input\n').toString('base64') }],
      returnFiles: true,
    });
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 500));
    assert.deepEqual(result.files?.map((f) => f.path), ['changed.txt', 'made.txt']);
    assert.equal(contentOf(result.files?.[0]), 'input\nmore\n');
    assert.equal(contentOf(result.files?.[1]), 'new\n');
  });

  it('a plot saved with savefig comes back as a PNG', async function () {
    const probe = await broker.execute({ code: 'import importlib.util\nprint(importlib.util.find_spec("matplotlib") is not None)' });
    if (probe.stdout !== 'True\n') this.skip(); // Debian's python3-matplotlib is not installed on this host
    const result = await run('import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.savefig("plot.png")', ['*.png']);
    const png = result.files?.find((f) => f.path === 'plot.png');
    assert.ok(png && 'content' in png, JSON.stringify(result).slice(0, 500));
    assert.deepEqual([...Buffer.from(png.content, 'base64').subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('a symlink to a host-looking path, a FIFO and a socket are skipped: only regular files come out', async () => {
    const code = [
      'import os, socket',
      'os.symlink("/etc/passwd", "passwd")',
      'os.symlink("/pycell/agent/main.py", "agent.py")',
      'os.mkfifo("fifo")',
      's = socket.socket(socket.AF_UNIX); s.bind("sock")',
      'open("real.txt", "w").write("ok")',
    ].join('\n');
    const result = await run(code);
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 500));
    assert.deepEqual(result.files, [{ path: 'real.txt', size: 2, content: Buffer.from('ok').toString('base64') }]);
  });

  it('a directory symlinked to / is not walked into', async () => {
    const result = await run('import os\nos.symlink("/", "root")\nos.symlink("/usr", "usr")\nopen("x", "w").write("x")');
    assert.deepEqual(result.files?.map((f) => f.path), ['x']);
  });

  it('a sparse 1 TiB file is refused by its size at once, without being read', async () => {
    // RLIMIT_FSIZE is maxFileBytes: only an operator who allows 2 TiB files lets the sandbox make one.
    const roomy = await startBroker({ args: ['--max-limit', `maxFileBytes=${2 ** 41}`] });
    let result: ExecuteResult;
    try {
      result = await roomy.execute({ code: 'with open("huge", "wb") as f:\n    f.truncate(1 << 40)\nopen("small", "w").write("s")', returnFiles: true, limits: { maxFileBytes: 2 ** 41 } });
    } finally {
      await roomy.close();
    }
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 500));
    const huge = result.files?.find((f) => f.path === 'huge');
    assert.ok(huge && 'error' in huge, JSON.stringify(result.files));
    assert.match(huge.error, /^1099511627776 bytes exceeds the per-file limit of \d+$/);
    assert.equal(contentOf(result.files?.find((f) => f.path === 'small')), 's');
    assert.ok(result.usage.wallMs < 5000, `took ${result.usage.wallMs} ms`);
  });

  it('1,000 nested directories: a file below the depth bound comes back, the search stops at the bound with one error entry', async () => {
    const code = 'import os\nfor i in range(1000):\n    os.mkdir("d"); os.chdir("d")\nopen("deep.txt", "w").write("deep")\nos.chdir("/tmp")\nos.makedirs("a/b"); open("a/b/shallow.txt", "w").write("s")';
    const result = await run(code);
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 500));
    assert.equal(contentOf(result.files?.find((f) => f.path === 'a/b/shallow.txt')), 's');
    const errors = result.files?.filter((f) => 'error' in f) ?? [];
    assert.equal(errors.length, 1, JSON.stringify(errors).slice(0, 500));
    assert.match((errors[0] as { error: string }).error, /deeper than maxDepth levels; not searched/);
    assert.ok(!result.files?.some((f) => f.path.endsWith('deep.txt')));
  });

  it('a name that is not valid UTF-8 is an error entry with the bytes escaped; the result stays valid', async () => {
    const result = await run('import os\nwith open(os.fsencode("bad") + b"\\xff\\xfe.txt", "wb") as f:\n    f.write(b"x")\nopen("good.txt", "w").write("g")');
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 500));
    assert.deepEqual(result.files, [
      { path: 'bad\\xff\\xfe.txt', error: 'name is not valid UTF-8' },
      { path: 'good.txt', size: 1, content: Buffer.from('g').toString('base64') },
    ]);
  });

  it('10,000 files: at most 100 come back, with one error entry saying the rest do not', async () => {
    const result = await run('for i in range(10000):\n    open("f%05d" % i, "w").write("x")');
    assert.equal(result.status, 'ok', JSON.stringify(result).slice(0, 300));
    const returned = result.files?.filter((f) => 'content' in f) ?? [];
    const errors = result.files?.filter((f) => 'error' in f) ?? [];
    assert.equal(returned.length, 100);
    assert.equal(errors.length, 1, JSON.stringify(errors).slice(0, 300));
  });

  it('patterns select; a file outside them is not listed at all', async () => {
    const result = await run('import os\nos.mkdir("out")\nopen("out/a.csv", "w").write("1")\nopen("out/b.log", "w").write("2")\nopen("c.csv", "w").write("3")', ['out/*.csv']);
    assert.deepEqual(result.files?.map((f) => f.path), ['out/a.csv']);
  });

  it('without returnFiles nothing is collected, and a refused pattern list names the field', async () => {
    const result = await broker.execute({ code: 'open("x", "w").write("x")' });
    assert.equal(result.files, undefined);
    await assert.rejects(broker.execute({ code: '', returnFiles: [] }), (error: Error & { data?: { field?: string } }) => {
      assert.equal(error.data?.field, 'params.returnFiles');
      return true;
    });
  });

  it('works in a session too: only this execute\'s changes come back', async () => {
    const session = await broker.client.openSession();
    try {
      await session.execute('open("first.txt", "w").write("1")');
      const result = await session.execute('open("second.txt", "w").write("2")', { returnFiles: true });
      assert.deepEqual(result.files?.map((f) => f.path), ['second.txt']);
    } finally {
      await session.close();
    }
  });
});
