// Starts one of the entry points (watcher/main.ts, webhook/main.ts) as a real process, as a user
// would with `npm run start:*`, and collects its JSON log lines and stderr.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface StartedProcess {
  child: ChildProcess;
  /** Parsed JSON lines of stdout (pino), in order. */
  lines: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Resolves with the first log line `match` accepts; rejects when the process exits first. */
  waitForLine(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

export function startEntryPoint(main: string, env: NodeJS.ProcessEnv): StartedProcess {
  const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', main], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, TS_NODE_TRANSPILE_ONLY: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  let stderr = '';
  let buffer = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    buffer += c.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text, notJson: true };
      }
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    waitForLine: (match) => {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then((code) =>
          reject(new Error(`${main} exited with ${code} first:\n${stderr}\n${JSON.stringify(lines)}`)),
        );
      });
    },
  };
}

export interface ProcessExit {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The real `image-watcher` CLI process (watcher/cli/main.ts), as a CI job runs it, with `env` as
 * its whole environment; its exit code and output. Transpile only: the type check is tsc's job,
 * and it triples the start-up time. A hang fails the caller at `timeoutMs`, not the suite.
 */
export function cliProcess(
  args: string[],
  opts: { env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<ProcessExit> {
  return promisify(execFile)(
    process.execPath,
    ['--import', './bench/register.js', 'watcher/cli/main.ts', ...args],
    { cwd: ROOT, env: { ...opts.env, TS_NODE_TRANSPILE_ONLY: '1' }, timeout: opts.timeoutMs ?? 60_000 },
  ).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}
