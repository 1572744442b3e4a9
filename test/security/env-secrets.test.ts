import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sandboxEnv } from '../../src/sandbox/policy.js';
import { probe, randomTag, startBroker, type SecurityBroker } from './harness.js';

/**
 * THREATS: secrets in the broker's environment must not be readable anywhere in the sandbox — its own
 * environment, /proc/<pid>/environ of any visible process (bubblewrap's init as pid 1 included), or in
 * results and error messages.
 */
describe('security: the broker environment does not reach the sandbox', function () {
  this.timeout(30_000);
  const secret = `sekret-${randomTag()}`;
  let broker: SecurityBroker;
  /** Every result and error of this file is checked for the secret, as it arrives. */
  const results = {
    push(...items: unknown[]): void {
      for (const item of items) {
        const text = JSON.stringify(item);
        const at = text.indexOf(secret);
        // Only the surroundings of the secret: a leaked environment may hold real credentials of the host.
        assert.ok(at < 0, `the secret appears in a result: …${text.slice(Math.max(0, at - 60), at + secret.length + 20)}…`);
      }
      seen.push(...items);
    },
  };
  const seen: unknown[] = [];
  /** The agent adds one to its own os.environ (not its subprocesses'): matplotlib's backend (pycell_agent/figures.py). */
  const agentEnvNames = [...Object.keys(sandboxEnv), 'MPLBACKEND'].sort();

  before(async () => {
    // info: the execution log is on, so the check of the logs in after() covers it.
    broker = await startBroker({ env: { ...process.env, PYCELL_TEST_SECRET: secret, AWS_SECRET_ACCESS_KEY: secret }, args: ['--log-level', 'info'] });
  });
  after(async () => {
    await broker?.close();
    assert.ok(!broker.stderr().includes(secret), 'the secret appears in the broker logs');
  });

  it('os.environ is exactly the allowlist of src/sandbox/policy.ts (plus PWD, which the shell-less bwrap child sets)', async () => {
    const { data, result } = await probe<{ env: Record<string, string> }>(broker, 'import os\nemit({"env": dict(os.environ)})');
    results.push(result);
    const { PWD, ...rest } = data.env;
    assert.deepEqual(Object.keys(rest).sort(), agentEnvNames, 'variable names inside the sandbox');
    assert.equal(rest.MPLBACKEND, 'module://pycell_agent.mplbackend');
    const { MPLBACKEND: _agents, ...base } = rest;
    assert.deepEqual(base, { ...sandboxEnv });
    assert.ok(PWD === undefined || PWD === '/tmp', `PWD=${PWD}`);
    assert.ok(!Object.values(data.env).some((v) => v.includes(secret)));
  });

  it('/proc/self/environ and /proc/1/environ (bubblewrap init) hold only the allowlist', async () => {
    const code = String.raw`
def environ(path):
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        return {'error': e.errno}
    return {'vars': dict(kv.split('=', 1) for kv in raw.decode('latin1').split('\0') if kv)}
emit({'self': environ('/proc/self/environ'), 'init': environ('/proc/1/environ')})
`;
    const { data, result } = await probe<{ self: { vars?: Record<string, string> }; init: { vars?: Record<string, string>; error?: number } }>(broker, code);
    results.push(result);
    const { PWD, ...self } = data.self.vars ?? {};
    assert.deepEqual(Object.keys(self).sort(), Object.keys(sandboxEnv).sort(), 'variable names in /proc/self/environ');
    assert.deepEqual(self, { ...sandboxEnv });
    assert.ok(PWD === undefined || PWD === '/tmp');
    // pid 1 is bubblewrap: it must have been started with the allowlist itself, not the broker's env.
    if (data.init.vars) {
      assert.deepEqual(Object.keys(data.init.vars).sort(), Object.keys(sandboxEnv).sort(), 'variable names of bubblewrap init (pid 1)');
      assert.deepEqual(data.init.vars, { ...sandboxEnv }, 'bubblewrap init (pid 1) environment');
    }
  });

  it('no /proc/*/environ, /proc/*/task/*/environ or /proc/*/cmdline readable inside holds the secret', async () => {
    const code = String.raw`
import os, subprocess
# A child process too, so there is more than the agent and init to look at.
child = subprocess.Popen(['/usr/bin/sleep', '5'])
seen = {}
hits = []
for pid in os.listdir('/proc'):
    if not pid.isdigit():
        continue
    paths = ['/proc/%s/environ' % pid, '/proc/%s/cmdline' % pid]
    try:
        paths += ['/proc/%s/task/%s/environ' % (pid, t) for t in os.listdir('/proc/%s/task' % pid)]
    except OSError:
        pass
    for path in paths:
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError as e:
            seen[path] = 'errno %d' % e.errno
            continue
        seen[path] = len(data)
        if SECRET in data:
            hits.append(path)
child.kill()
emit({'seen': seen, 'hits': hits})
`.replace('SECRET', `${JSON.stringify(secret)}.encode()`);
    const { data, result } = await probe<{ seen: Record<string, number | string>; hits: string[] }>(broker, code);
    results.push(result);
    assert.deepEqual(data.hits, []);
    // The scan really read something: the agent's own and init's environ and cmdline.
    for (const path of ['/proc/1/environ', '/proc/1/cmdline', '/proc/2/environ', '/proc/2/cmdline']) assert.equal(typeof data.seen[path], 'number', `${path}: ${JSON.stringify(data.seen)}`);
    assert.ok(Object.keys(data.seen).length >= 6, JSON.stringify(data.seen));
  });

  it('a subprocess started by user code gets no secret either (env of a fresh /usr/bin/env)', async () => {
    const { data, result } = await probe<{ out: string }>(broker, "import subprocess\nemit({'out': subprocess.run(['/usr/bin/env'], capture_output=True, text=True).stdout})");
    results.push(result);
    const vars = Object.fromEntries(data.out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    delete vars.PWD;
    assert.deepEqual(Object.keys(vars).sort(), Object.keys(sandboxEnv).sort(), 'variable names a subprocess sees');
    assert.deepEqual(vars, { ...sandboxEnv });
  });

  it('errors, crashes and refused requests never carry the secret', async () => {
    results.push(await broker.execute({ code: "import os\nraise RuntimeError(repr(dict(os.environ)) + open('/proc/1/environ').read())" }));
    results.push(await broker.execute({ code: "import os\nos.write(2, repr(dict(os.environ)).encode())\nos._exit(9)" }));
    const r = seen.at(-1) as { status: string };
    assert.equal(r.status, 'crashed');
    const refused = await broker.execute({ code: 'x', limits: { timeoutMs: -1 } }).then(
      () => assert.fail('a negative limit was accepted'),
      (error: unknown) => error,
    );
    results.push({ message: (refused as Error).message, data: (refused as { data?: unknown }).data });
  });

  it('the execution log records each run by size and SHA-256 of its code, never the code itself or the environment', async () => {
    const marker = `code-marker-${randomTag()}`;
    const code = `import os\nx = ${JSON.stringify(marker)}\nprint(len(os.environ))`;
    const result = await broker.execute({ code, limits: { timeoutMs: 5000 } });
    results.push(result);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const records = broker.stderr().split('\n').filter((line) => line.includes('"event":"execution"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const sha = createHash('sha256').update(code).digest('hex');
    const record = records.find((r) => r.codeSha256 === sha);
    assert.ok(record, `no execution record with the code's hash among ${records.length}`);
    assert.equal(record.codeBytes, Buffer.byteLength(code));
    assert.equal(record.status, 'ok');
    assert.equal((record.limits as { timeoutMs: number }).timeoutMs, 5000);
    assert.ok(!broker.stderr().includes(marker), 'the code itself appears in the logs');
  });
});
