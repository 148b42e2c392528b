// A pino logger whose lines the test reads back as parsed objects.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger, LoggerOptions } from 'pino';

/** Lines fill `lines` as they are written; level `trace` unless the options say otherwise. */
export function captureLogger(opts: LoggerOptions = {}): {
  logger: Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level: 'trace', ...opts }, stream), lines };
}
