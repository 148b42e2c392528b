// Starts a long-running binary (prometheus, alertmanager) for a test: it binds port 0 and the
// port it got is read back from /proc (lsof without /proc), it waits until an HTTP readiness URL answers 200, and it
// stops cleanly. A program that cannot bind port 0 (sshd) is started through startOnFreePort.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { ImageWatcherError } from '../../shared/errors.ts';

export class DaemonError extends ImageWatcherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_TEST_DAEMON', message, options);
  }
}

/**
 * A port the kernel just handed out on 127.0.0.1, closed again: another process may take it before
 * the caller binds it. Give it to a program only through startOnFreePort; a port to connect to
 * where nothing listens is the other use.
 */
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

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const ADDRESS_IN_USE = /address already in use|\bEADDRINUSE\b|port \d+ on \S+ is already in use/i;

/** Whether `err` (its message or a cause's) says the address was in use, and nothing else. */
export function isAddressInUse(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (typeof e === 'string') return ADDRESS_IN_USE.test(e);
    if (typeof e !== 'object') return false;
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (code === 'EADDRINUSE' || (typeof message === 'string' && ADDRESS_IN_USE.test(message))) return true;
    e = cause;
  }
  return false;
}

export interface FreePortOptions {
  /** Starts in all (the first start included); 5 by default. */
  attempts?: number;
  /** Where each attempt's port comes from: freePort by default (a test hands a taken one first). */
  nextPort?: () => Promise<number>;
}

/**
 * Starts a program that must be told its port in advance (it cannot bind port 0): when the start
 * fails because another process took the port in the meantime, it starts again on a fresh port.
 * Any other failure is thrown at once; so is the last one.
 */
export async function startOnFreePort<T>(
  start: (port: number) => Promise<T>,
  opts: FreePortOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 5;
  const nextPort = opts.nextPort ?? freePort;
  for (let attempt = 1; ; attempt++) {
    const port = await nextPort();
    try {
      return await start(port);
    } catch (err) {
      if (attempt >= attempts || !isAddressInUse(err)) throw err;
    }
  }
}

/**
 * The TCP ports process `pid` listens on: its own sockets in /proc/PID/net/tcp and tcp6 (Linux), or
 * what `lsof` says where there is no /proc (macOS has lsof by default).
 */
export async function listeningPorts(pid: number, opts: { via?: 'proc' | 'lsof' } = {}): Promise<number[]> {
  const via = opts.via ?? (process.platform === 'linux' ? 'proc' : 'lsof');
  return via === 'proc' ? procListeningPorts(pid) : lsofListeningPorts(pid);
}

async function lsofListeningPorts(pid: number): Promise<number[]> {
  let out: string;
  try {
    ({ stdout: out } = await promisify(execFile)('lsof', [
      '-nP',
      '-a',
      '-p',
      String(pid),
      '-iTCP',
      '-sTCP:LISTEN',
      '-Fn',
    ]));
  } catch (err) {
    // Exit 1 with no output: nothing listens yet.
    const e = err as { code?: unknown; stdout?: unknown };
    if (e.code !== 1 || e.stdout !== '') throw err;
    out = '';
  }
  const ports = new Set<number>();
  for (const line of out.split('\n')) {
    const m = /^n.*:(\d+)$/.exec(line);
    if (m?.[1] !== undefined) ports.add(Number(m[1]));
  }
  return [...ports].sort((a, b) => a - b);
}

async function procListeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m?.[1] !== undefined) inodes.add(m[1]);
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st ... inode: state 0A is LISTEN.
      const cols = line.trim().split(/\s+/);
      const [local, state, inode] = [cols[1], cols[3], cols[9]];
      if (state !== '0A' || inode === undefined || !inodes.has(inode) || local === undefined) continue;
      ports.add(parseInt(local.split(':')[1] ?? '', 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * The one port a program started with port 0 bound, once it has bound it. Throws when it exits
 * first, listens on more than one port (ambiguous), or takes longer than `timeoutMs`. `closed`
 * resolves once the process exited and its output pipes closed (the error then has its last words).
 */
export async function boundPort(
  child: ChildProcess,
  opts: {
    name: string;
    output: () => string;
    closed: Promise<unknown>;
    timeoutMs?: number;
    sleep?: (ms: number) => Promise<void>;
  },
): Promise<number> {
  const sleep = opts.sleep ?? defaultSleep;
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      await opts.closed;
      throw new DaemonError(`${opts.name} exited before it listened:\n${opts.output().slice(-4000)}`);
    }
    const ports = await listeningPorts(child.pid).catch(() => []);
    if (ports.length > 1) {
      throw new DaemonError(`${opts.name} listens on ${ports.join(', ')}: expected one port`);
    }
    if (ports[0] !== undefined) return ports[0];
    if (Date.now() > deadline) {
      throw new DaemonError(`${opts.name} did not listen in time:\n${opts.output().slice(-4000)}`);
    }
    await sleep(50);
  }
}

export interface Daemon {
  readonly child: ChildProcess;
  /** The port it listens on: read back from /proc when `readyUrl` is a function, else undefined. */
  readonly port: number | undefined;
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
  /**
   * A URL answering 200 once the program is ready. A function: the program was told to bind port
   * 0; it gets the port the program bound (it must listen on exactly one).
   */
  readyUrl: string | ((port: number) => string);
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

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
    // 'close', not 'exit': by then its output has been read to the end.
    child.once('close', (code, signal) => {
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
  let port: number | undefined;
  let readyUrl: string;
  if (typeof opts.readyUrl === 'string') {
    readyUrl = opts.readyUrl;
  } else {
    // No PID: the spawn failed, and its 'error' event says why.
    if (child.pid === undefined) await exit;
    if (spawnError)
      throw new DaemonError(`${opts.name} could not be started (${opts.command}): ${spawnError.message}`);
    try {
      port = await boundPort(child, {
        name: opts.name,
        output: () => output,
        closed: exit,
        timeoutMs: opts.timeoutMs,
        sleep,
      });
    } catch (err) {
      await stop();
      throw err;
    }
    readyUrl = opts.readyUrl(port);
  }
  for (;;) {
    if (spawnError)
      throw new DaemonError(`${opts.name} could not be started (${opts.command}): ${spawnError.message}`);
    if (exited) {
      throw new DaemonError(
        `${opts.name} exited with ${exited.code ?? exited.signal} before it was ready:\n${output.slice(-4000)}`,
      );
    }
    try {
      const res = await fetch(readyUrl, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new DaemonError(`${opts.name} was not ready at ${readyUrl} in time:\n${output.slice(-4000)}`);
    }
    await sleep(100);
  }
  return { child, port, output: () => output, stop };
}

/**
 * A loopback TCP relay on port 0 for a listener that starts later: a program configured before it
 * (a registry's notification URL, when the listener in turn needs the registry's address) is given
 * the relay's port, and `forwardTo` names the listener's real port once it is up. Until then a
 * connection is closed at once, as if nothing listened. Bytes pass through unchanged.
 */
export interface PortRelay {
  readonly port: number;
  forwardTo(port: number): void;
  close(): Promise<void>;
}

export async function startPortRelay(): Promise<PortRelay> {
  let target: number | undefined;
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server = createServer((client) => {
    track(client);
    if (target === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(target, '127.0.0.1');
    track(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    forwardTo: (p) => {
      target = p;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
