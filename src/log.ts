import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Structured logs go to stderr (fd 2) or a file, never stdout: stdout is the protocol. */
export function makeLogger(level: string, file?: string): Logger {
  const destination = pino.destination({ dest: file ?? 2, sync: true, mkdir: file !== undefined });
  return pino({ level, base: { name: 'pycell' } }, destination);
}

export const silentLogger: Logger = pino({ level: 'silent' });
