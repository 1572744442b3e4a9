import assert from 'node:assert/strict';
import type { ClientSession, ExecuteResult } from '../../src/client/index.js';
import { startInProcess, type InProcess } from '../helpers/inproc.js';
import { insideOf, withNewSandbox } from '../helpers/sessions.js';

/** Two sessions of one broker share nothing: processes, files, variables. */
describe('sessions: isolation between sessions (real sandbox)', function () {
  this.timeout(30_000);
  let broker: InProcess;
  let a: ClientSession;
  let b: ClientSession;
  let bwrapA: number;
  let bwrapB: number;
  before(async () => {
    broker = await startInProcess({ poolSize: 1, maxSessions: 2 });
    ({ value: a, bwrap: bwrapA } = await withNewSandbox(() => broker.client.openSession()));
    ({ value: b, bwrap: bwrapB } = await withNewSandbox(() => broker.client.openSession()));
  });
  after(() => broker.dispose());

  const value = async (s: ClientSession | undefined, code: string): Promise<string> => {
    const r: ExecuteResult = s ? await s.execute(code) : await broker.client.execute({ code });
    assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
    return r.value?.['text/plain'] ?? '';
  };

  it('variables of one session are not defined in the other', async () => {
    await value(a, 'only_in_a = "A"\nshared = "from A"');
    await value(b, 'shared = "from B"');
    const r = await b.execute('only_in_a');
    assert.equal(r.error?.type, 'NameError');
    assert.equal(r.error?.message, "name 'only_in_a' is not defined");
    assert.equal(await value(a, 'shared'), "'from A'");
    assert.equal(await value(b, 'shared'), "'from B'");
  });

  it('a file written in /tmp of one session persists there and is absent from the other and from stateless runs', async () => {
    const path = `/tmp/only-in-a-${process.pid}`;
    await value(a, `with open(${JSON.stringify(path)}, "w") as f:\n    f.write("secret")`);
    const exists = `import os\nos.path.exists(${JSON.stringify(path)})`;
    assert.equal(await value(a, exists), 'True');
    assert.equal(await value(b, exists), 'False');
    assert.equal(await value(undefined, exists), 'False');
  });

  it('each session\'s /proc shows only its own pid namespace', async () => {
    const inA = insideOf(bwrapA);
    const inB = insideOf(bwrapB);
    const listing = JSON.parse(await value(b, 'import os, json\njson.dumps(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))').then((t) => t.slice(1, -1))) as number[];
    assert.equal(listing.length, inB.pids.length, `B sees ${JSON.stringify(listing)}; the host sees ${inB.pids.length} processes in B's namespace`);
    assert.ok(!listing.includes(inA.agent), `B lists A's agent (host pid ${inA.agent})`);
    assert.ok(!listing.includes(inB.agent), 'B sees host pids, not its own namespace');
  });

  it('one session cannot signal the other\'s agent (its host pid does not exist there)', async () => {
    const { agent } = insideOf(bwrapA);
    const r = await b.execute(`import os\nresult = 'signalled'\ntry:\n    os.kill(${agent}, 0)\nexcept ProcessLookupError:\n    result = 'ProcessLookupError'\nresult`);
    assert.deepEqual(r.value, { 'text/plain': "'ProcessLookupError'" });
  });

  it('a process started in one session is invisible to the other', async () => {
    const tag = `pycell-iso-${process.pid}`;
    await value(a, `import subprocess, sys\nchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "${tag}"])\nimport time\ntime.sleep(0.2)`);
    const seenInA = await value(a, `import os\nany(b"${tag}" in open(f"/proc/{p}/cmdline", "rb").read() for p in os.listdir("/proc") if p.isdigit())`);
    assert.equal(seenInA, 'True', 'the probe does not find the process even where it runs');
    const seenInB = await value(b, `import os\nany(b"${tag}" in open(f"/proc/{p}/cmdline", "rb").read() for p in os.listdir("/proc") if p.isdigit())`);
    assert.equal(seenInB, 'False');
    await value(a, 'child.kill()\nchild.wait()');
  });
});
