import assert from 'node:assert/strict';
import type { ClientSession } from '../../src/client/index.js';
import { startInProcess, type InProcess } from '../helpers/inproc.js';
import { withBrokerAndSession } from '../helpers/sessions.js';

type Asked = { prompt: string; password: boolean };

/** input() and getpass() in a session: asked of the client when it can answer, read from stdin otherwise. */
describe('sessions: input (real sandbox)', function () {
  this.timeout(30_000);

  describe('a client that declared interactiveInput', () => {
    let broker: InProcess;
    let s: ClientSession;
    before(async () => {
      broker = await startInProcess({ poolSize: 1, interruptGraceMs: 500 }, { clientInfo: { name: 't' }, capabilities: { interactiveInput: true } });
      s = await broker.client.openSession();
    });
    after(() => broker.dispose());

    /** Answers each request with the next of `answers`, recording what was asked. */
    const answering = (answers: (string | null)[]) => {
      const asked: Asked[] = [];
      return { asked, onInput: (request: Asked) => (asked.push(request), answers.shift() ?? null) };
    };

    it('input() asks the client with its prompt; the answer is the value and stays in the namespace', async () => {
      const { asked, onInput } = answering(['Ada']);
      const r = await s.execute('name = input("name? ")\nprint("hello", name)\nname', { onInput });
      assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
      assert.deepEqual(asked, [{ prompt: 'name? ', password: false }]);
      assert.equal(r.stdout, 'hello Ada\n', 'the prompt goes to the client, not to stdout');
      assert.deepEqual(r.value, { 'text/plain': "'Ada'" });
      const next = await s.execute('name.upper()');
      assert.deepEqual(next.value, { 'text/plain': "'ADA'" });
    });

    it('several input() calls are asked in order, each waiting for its answer', async () => {
      const { asked, onInput } = answering(['1', '2', '3']);
      const r = await s.execute('a = input("a? ")\nb = input("b? ")\nc = input()\na + b + c', { onInput });
      assert.deepEqual(asked.map((q) => q.prompt), ['a? ', 'b? ', '']);
      assert.deepEqual(r.value, { 'text/plain': "'123'" });
    });

    it('an answer given later (a promise) is still the value', async () => {
      const r = await s.execute('input("slow? ")', { onInput: () => new Promise<string>((resolve) => setTimeout(() => resolve('late'), 200)) });
      assert.deepEqual(r.value, { 'text/plain': "'late'" });
    });

    it('getpass.getpass() asks with password: true and its default prompt', async () => {
      const { asked, onInput } = answering(['hunter2', 'x']);
      const r = await s.execute('import getpass\npw = getpass.getpass()\nother = getpass.getpass("PIN: ")\n(len(pw), other)', { onInput });
      assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
      assert.deepEqual(asked, [{ prompt: 'Password: ', password: true }, { prompt: 'PIN: ', password: true }]);
      assert.deepEqual(r.value, { 'text/plain': "(7, 'x')" });
      assert.equal(r.stdout, '');
    });

    it('answering null is end of input: EOFError', async () => {
      const r = await s.execute('input("nothing? ")', { onInput: () => null });
      assert.equal(r.status, 'error');
      assert.equal(r.error?.type, 'EOFError');
      assert.equal(r.error?.message, 'EOF when reading a line');
      const caught = await s.execute('try:\n    input()\nexcept EOFError:\n    print("eof")', { onInput: () => null });
      assert.equal(caught.status, 'ok');
      assert.equal(caught.stdout, 'eof\n');
    });

    it('cancelling while input() waits interrupts it: cancelled, KeyboardInterrupt, state kept', async () => {
      await s.execute('before_wait = 5');
      const controller = new AbortController();
      const r = await s.execute('x = input("forever? ")', {
        signal: controller.signal,
        onInput: () => {
          setTimeout(() => controller.abort(), 50);
          return new Promise<string>(() => undefined); // never answered
        },
      });
      assert.equal(r.status, 'cancelled');
      assert.equal(r.error?.type, 'KeyboardInterrupt');
      assert.notEqual(r.sessionRestarted, true);
      const next = await s.execute('before_wait', { onInput: () => 'unused' });
      assert.equal(next.status, 'ok');
      assert.deepEqual(next.value, { 'text/plain': '5' });
      assert.notEqual(next.sessionRestarted, true);
    });

    it('an execute without onInput (no outputToken) reads its stdin instead', async () => {
      const r = await s.execute('input("p? ")', { stdin: 'from stdin\n' });
      assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
      assert.deepEqual(r.value, { 'text/plain': "'from stdin'" });
      assert.equal(r.stdout, 'p? ');
    });
  });

  describe('a client without interactiveInput', () => {
    let s: ClientSession;
    withBrokerAndSession({ poolSize: 1 }, (_, session) => (s = session));

    it('input() reads the execute\'s stdin (prompt to stdout) and gets EOFError at its end; the client is never asked', async () => {
      const asked: Asked[] = [];
      const r = await s.execute('a = input()\nb = input("b? ")\nprint(a.upper(), b)\ninput()', { stdin: 'x\ny\n', onInput: (q) => (asked.push(q), 'nope') });
      assert.deepEqual(asked, []);
      assert.equal(r.status, 'error');
      assert.equal(r.error?.type, 'EOFError');
      assert.equal(r.error?.message, 'EOF when reading a line');
      assert.equal(r.stdout, 'b? X y\n');
      const kept = await s.execute('a + b');
      assert.deepEqual(kept.value, { 'text/plain': "'xy'" });
    });

    it('each execute reads its own stdin; without one, stdin is empty', async () => {
      await s.execute('import sys\nfirst = sys.stdin.read()', { stdin: 'one' });
      await s.execute('second = sys.stdin.read()', { stdin: 'two\nlines\n' });
      const r = await s.execute('(first, second, sys.stdin.read())');
      assert.deepEqual(r.value, { 'text/plain': "('one', 'two\\nlines\\n', '')" });
    });

    it('getpass() without the capability reads stdin too', async () => {
      const r = await s.execute('import getpass\ngetpass.getpass()', { stdin: 'secret\n' });
      assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 800));
      assert.deepEqual(r.value, { 'text/plain': "'secret'" });
    });
  });
});
