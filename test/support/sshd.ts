// Debian's OpenSSH server for tests: /usr/sbin/sshd in the foreground on a free loopback port, as
// the user running the tests (only that user can log in; sshd needs no root for that), with a host
// key generated per run, one authorized client key, no PAM and no password logins, and StrictModes
// on. Git over SSH runs git-upload-pack and git-receive-pack through it exactly as against a real
// Git host.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { findProgram } from './programs.ts';
import { startOnFreePort, type FreePortOptions } from './daemon.ts';

const run = promisify(execFile);
export const SSHD_BIN = findProgram('sshd', { envVar: 'SSHD_BIN', fallback: '/usr/sbin/sshd' });
const KEYGEN = findProgram('ssh-keygen');

export interface RunningSshd {
  port: number;
  user: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA...`: the pinned host key. */
  knownHosts: string;
  /** The authorized client's private key (OpenSSH format). */
  identity: string;
  /** Another key, not authorized (a wrong credential). */
  otherIdentity: string;
  /** A known_hosts line for a different host key (a man in the middle). */
  wrongKnownHosts: string;
  /** `ssh://USER@127.0.0.1:PORT/<abs path>` for a bare repository on this machine. */
  url(path: string): string;
  stop(): Promise<void>;
}

async function keypair(dir: string, name: string): Promise<{ priv: string; pub: string }> {
  const file = join(dir, name);
  await run(KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return { priv: await readFile(file, 'utf8'), pub: (await readFile(`${file}.pub`, 'utf8')).trim() };
}

/**
 * StrictModes accepts authorized_keys only when it and every directory above it are owned by root
 * or the user and writable by no one else. /tmp is world-writable (sticky or not), so a 0700
 * mkdtemp dir in it is refused; the first base whose whole chain passes is used instead.
 */
async function strictBase(): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const safe = async (dir: string): Promise<boolean> => {
    for (let d = dir; ; d = dirname(d)) {
      const st = await stat(d).catch(() => undefined);
      if (!st || (st.uid !== 0 && st.uid !== uid) || (st.mode & 0o022) !== 0) return false;
      if (d === dirname(d)) return true;
    }
  };
  for (const base of [process.env.XDG_RUNTIME_DIR, tmpdir(), homedir()]) {
    if (base && (await safe(base))) return base;
  }
  throw new Error('no directory for sshd files passes StrictModes (set TMPDIR to one only you can write)');
}

/** `ports`: how a port is chosen (a test hands a taken one first). */
export async function startSshd(opts: { ports?: FreePortOptions } = {}): Promise<RunningSshd> {
  const dir = await mkdtemp(join(await strictBase(), 'iw-sshd-'));
  const host = await keypair(dir, 'host');
  const otherHost = await keypair(dir, 'other-host');
  const client = await keypair(dir, 'client');
  const other = await keypair(dir, 'other-client');
  await writeFile(join(dir, 'authorized_keys'), `${client.pub}\n`, { mode: 0o600 });
  // A privileged sshd needs its privilege-separation directory (Debian creates it at boot only).
  if (process.getuid?.() === 0 && !(await stat('/run/sshd').catch(() => undefined))) {
    await mkdir('/run/sshd', { mode: 0o755 });
  }
  // sshd refuses port 0 ("bad port number"): a port taken meanwhile means a start on another one.
  const launch = async (port: number): Promise<ChildProcess> => {
    const config = [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, 'host')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      // Files 0600 in a 0700 dir on a path only root and the user can write (strictBase).
      'StrictModes yes',
      'LogLevel VERBOSE',
    ].join('\n');
    await writeFile(join(dir, 'sshd_config'), `${config}\n`);
    const child: ChildProcess = spawn(SSHD_BIN, ['-D', '-e', '-f', join(dir, 'sshd_config')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (b: Buffer) => {
        log += b.toString();
        if (log.includes('Server listening on')) resolve();
      });
      // 'close': the whole log (a bind error) is read by then.
      child.once('close', (code) => reject(new Error(`sshd exited with ${code}: ${log}`)));
      child.once('error', reject);
    });
    return child;
  };
  let port = 0;
  let child: ChildProcess;
  try {
    child = await startOnFreePort(async (p) => {
      port = p;
      return launch(p);
    }, opts.ports);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const user = userInfo().username;
  const hostKey = host.pub.split(' ').slice(0, 2).join(' ');
  const otherKey = otherHost.pub.split(' ').slice(0, 2).join(' ');
  return {
    port,
    user,
    knownHosts: `[127.0.0.1]:${port} ${hostKey}\n`,
    wrongKnownHosts: `[127.0.0.1]:${port} ${otherKey}\n`,
    identity: client.priv,
    otherIdentity: other.priv,
    url: (path) => `ssh://${user}@127.0.0.1:${port}${path}`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
