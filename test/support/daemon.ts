// Starts a long-running binary (prometheus, alertmanager) for a test: picks a free
// loopback port, waits until an HTTP readiness URL answers 200, and stops it cleanly.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { ImageWatcherError } from '../../shared/errors.ts';

export class DaemonError extends ImageWatcherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_TEST_DAEMON', message, options);
  }
}

/** A port the kernel just handed out on 127.0.0.1 (closed again, so the daemon can bind it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new DaemonError('no TCP port was assigned');
  return address.port;
}

export interface Daemon {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  readyUrl: string;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const OUTPUT_LIMIT = 64 * 1024;

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const sleep = opts.sleep ?? defaultSleep;
  const child = spawn(opts.command, opts.args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited: { code: number | null; signal: string | null } | undefined;
  let spawnError: Error | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited = { code: null, signal: null };
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(killer);
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (spawnError)
      throw new DaemonError(`${opts.name} could not be started (${opts.command}): ${spawnError.message}`);
    if (exited) {
      throw new DaemonError(
        `${opts.name} exited with ${exited.code ?? exited.signal} before it was ready:\n${output.slice(-4000)}`,
      );
    }
    try {
      const res = await fetch(opts.readyUrl, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new DaemonError(
        `${opts.name} was not ready at ${opts.readyUrl} in time:\n${output.slice(-4000)}`,
      );
    }
    await sleep(100);
  }
  return { child, output: () => output, stop };
}
