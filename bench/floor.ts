/**
 * The floor: a warm Python process answering newline-JSON over pipes from Node. No sandbox, no broker,
 * no limits: the least any design that runs code in another process can cost on this machine.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const SERVER = `
import io, json, sys, contextlib
for line in sys.stdin:
    request = json.loads(line)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(request["code"], "<cell>", "exec"), {})
    sys.stdout.write(json.dumps({"stdout": out.getvalue()}) + "\\n")
    sys.stdout.flush()
`;

export interface Floor {
  run(code: string): Promise<string>;
  close(): void;
}

export function startFloor(python = '/usr/bin/python3'): Floor {
  const child = spawn(python, ['-I', '-u', '-c', SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: ((stdout: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.((JSON.parse(line) as { stdout: string }).stdout));
  return {
    run(code) {
      return new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin!.write(`${JSON.stringify({ code })}\n`);
      });
    },
    close: () => child.kill(),
  };
}
