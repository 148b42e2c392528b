// The Git side of the write-back, behind a narrow interface: a shallow clone per repository in a
// temporary directory, commits, pushes that are never forced. The git CLI (Debian's `git`, SSH
// through `ssh`) does the work, and no shell: the watcher's -git image has none. HTTPS credentials
// reach git as an Authorization header through GIT_CONFIG_* variables; SSH goes through GIT_SSH, a
// node script in that directory that runs `ssh` with pinned options; keys are 0600 files there.
// Secrets are never in argv, URLs or logs; the directory is removed when the work is done.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, relative, sep } from 'node:path';
import { ImageWatcherError } from '../../shared/errors.ts';
import { bareHostname, checkHost, parseIpAddress } from '../outbound/address-guard.ts';
import type { Resolve, ResolvedAddress } from '../outbound/address-guard.ts';

export type GitErrorCode =
  | 'E_GIT_AUTH'
  | 'E_GIT_BLOCKED'
  | 'E_GIT_CONFLICT'
  | 'E_GIT_CREDENTIALS'
  | 'E_GIT_NOT_FOUND'
  | 'E_GIT_REJECTED'
  | 'E_GIT_UNAVAILABLE'
  | 'E_GIT_FAILED';

export class GitError extends ImageWatcherError {
  declare readonly code: GitErrorCode;
  constructor(code: GitErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** From the Secret named by `git-secret`: HTTPS username/password or token, SSH identity. */
export interface GitCredentials {
  username?: string | undefined;
  password?: string | undefined;
  token?: string | undefined;
  identity?: string | undefined;
  knownHosts?: string | undefined;
}

export interface GitIdentity {
  name: string;
  email: string;
}

/** One shallow checkout of a repository's branch. */
export interface GitWorkspace {
  /** The branch checked out (the remote's default when none was asked for). */
  readonly branch: string;
  /** Files under `path` (a file or a folder, relative to the repository root), by relative path. */
  readFiles(path: string): Promise<Map<string, string>>;
  writeFile(file: string, text: string): Promise<void>;
  /** Commits every change; undefined when nothing changed. */
  commit(message: string, identity: GitIdentity): Promise<string | undefined>;
  /** Pushes HEAD to `branch` (never forced): 'rejected' when the remote moved on. */
  push(branch: string): Promise<'pushed' | 'rejected'>;
  /** Fetches `branch` again and resets the checkout to it (after a rejected push). */
  reset(branch?: string): Promise<void>;
  /** Whether `branch` exists on the remote (a pull-request branch from an earlier update). */
  remoteHas(branch: string): Promise<boolean>;
  /** Which of `branches` exist on the remote (one ls-remote). */
  remoteBranches(branches: readonly string[]): Promise<Set<string>>;
  /**
   * Checks out `branch` with the base (the branch opened) freshly fetched and merged into it, or
   * a new branch off the base when absent. 'conflict' (merge aborted, nothing changed on the
   * remote) when the base cannot be merged in cleanly or no common commit is found in bounded depth.
   */
  switchTo(branch: string, identity: GitIdentity): Promise<'switched' | 'conflict'>;
  /** Whether HEAD holds `files` (repository-relative) exactly as the base last fetched does. */
  sameAsBase(files: readonly string[]): Promise<boolean>;
  close(): Promise<void>;
}

export type GitProbe = { ok: true; version: string } | { ok: false; error: GitError };

export interface GitClient {
  open(opts: {
    url: string;
    branch?: string | undefined;
    credentials?: GitCredentials;
  }): Promise<GitWorkspace>;
  /** Whether git can run here (the default watcher image has none): for a warning at start-up. */
  probe(): Promise<GitProbe>;
}

export interface GitCliOptions {
  /** Hosts spoken to over plain http and allowed on private addresses (GIT_INSECURE_HOSTS). */
  insecureHosts?: readonly string[];
  resolve?: Resolve;
  /** Per git command. */
  timeoutMs?: number;
  /** Parent of the per-repository temporary directories (default the OS temp dir). */
  tempDir?: string;
  /** The git and ssh programs' PATH (default the process's). */
  path?: string;
}

/** Largest file read from a checkout, and most files read from a folder: bounded memory. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
const MAX_FILES = 2000;
const EDITABLE = /\.(ya?ml|json)$/i;
/** Commits fetched, step by step, looking for a branch's fork point from the base: bounded work. */
const DEEPEN_STEPS = [16, 64, 256] as const;
/** Private refs of the checkout for the base and the branch, whatever their names. */
const BASE_REF = 'refs/image-watcher/base';
const HEAD_REF = 'refs/image-watcher/head';

/** Host of an https/http/ssh URL or of scp-like `user@host:path`. */
export function gitHost(url: string): { host: string; protocol: 'https' | 'http' | 'ssh' } {
  const scp = /^[^@/\s]+@(\[[^\]]+\]|[^:/\s]+):(?!\/\/)/.exec(url);
  if (scp) return { host: scp[1]!.replace(/^\[|\]$/g, '').toLowerCase(), protocol: 'ssh' };
  const u = new URL(url);
  const protocol = u.protocol.replace(/:$/, '');
  if (protocol !== 'https' && protocol !== 'http' && protocol !== 'ssh') {
    throw new GitError('E_GIT_BLOCKED', `${protocol} is not an allowed Git protocol (https or ssh)`);
  }
  return { host: bareHostname(u), protocol };
}

/**
 * git's (curl's) `http.curloptResolve` entry pinning an http(s) remote's host to the checked
 * address: curl connects there and still sends the host name in Host, SNI and the certificate
 * check. Undefined for ssh (not pinned: ssh resolves the name itself) and for IP literals.
 */
export function curlResolveEntry(url: string, address: ResolvedAddress): string | undefined {
  const { host, protocol } = gitHost(url);
  if (protocol === 'ssh' || parseIpAddress(host) !== undefined) return undefined;
  const port = new URL(url).port || (protocol === 'https' ? '443' : '80');
  const ip = address.family === 6 ? `[${address.address}]` : address.address;
  return `${host}:${port}:${ip}`;
}

/** http.curloptResolve came with git 2.37: an older git would ignore it and connect by name. */
export function pinsResolve(version: string): boolean {
  const m = /(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 2 || (major === 2 && minor >= 37);
}

/** The URL without user info, for messages and commit notes. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    if (u.protocol !== 'ssh:') u.username = '';
    return u.toString();
  } catch {
    return url;
  }
}

/** Where a missing git or ssh is found: the default image ships neither. */
const GIT_IMAGE_HINT =
  'Git write-back needs the watcher image tagged <version>-git (ghcr.io/image-watcher/watcher:<version>-git), which holds git and ssh';

function unavailable(program: string, path: string): GitError {
  return new GitError(
    'E_GIT_UNAVAILABLE',
    `${program} is not installed in this watcher image (not on PATH ${path}); ${GIT_IMAGE_HINT}`,
  );
}

/** The executable `program` on `path`, or undefined. */
async function onPath(program: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (!isAbsolute(dir)) continue;
    const full = join(dir, program);
    try {
      await access(full, constants.X_OK);
      return full;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * GIT_SSH: git runs it without a shell (a path without spaces or shell characters) with its own
 * arguments (`-p PORT`, `-o SendEnv=GIT_PROTOCOL`, host, command); it runs ssh with the pinned
 * options first. Node is the interpreter, the one program every watcher image has.
 */
function sshWrapper(node: string, ssh: string, options: readonly string[]): string {
  return `#!${node}
'use strict';
const { spawn } = require('node:child_process');
const child = spawn(${JSON.stringify(ssh)}, [...${JSON.stringify(options)}, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));
child.on('error', (err) => { process.stderr.write('image-watcher: cannot run ssh: ' + err.message + '\\n'); process.exit(255); });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 255 : 0)));
`;
}

/** Characters that make git run GIT_SSH through `sh -c` (git's run-command.c). */
const SHELL_CHARS = /[|&;<>()$`\\"' \t\n*?[#~=%]/;

/** A Basic Authorization header for git's http.extraHeader: the askpass answer, without a program. */
function basicHeader(username: string, password: string): string {
  return `Authorization: Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Author and committer of the watcher's commits (merges included), through git's environment. */
function identityEnv(id: GitIdentity): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: id.name,
    GIT_AUTHOR_EMAIL: id.email,
    GIT_COMMITTER_NAME: id.name,
    GIT_COMMITTER_EMAIL: id.email,
  };
}

export class GitCli implements GitClient {
  /** `git --version`, asked once per client (the first pinned open). */
  private version: Promise<GitProbe> | undefined;

  constructor(private readonly opts: GitCliOptions = {}) {}

  async probe(): Promise<GitProbe> {
    const path = this.opts.path ?? process.env.PATH ?? '/usr/bin:/bin';
    const git = await onPath('git', path);
    if (git === undefined) return { ok: false, error: unavailable('git', path) };
    return new Promise((resolve) => {
      execFile(
        git,
        ['--version'],
        { env: { PATH: path, LANG: 'C' }, timeout: 10_000 },
        (err, stdout, stderr) => {
          if (err) {
            const why = `${stderr}\n${err.message}`.trim().slice(0, 300);
            resolve({
              ok: false,
              error: new GitError('E_GIT_UNAVAILABLE', `${git} --version failed: ${why}; ${GIT_IMAGE_HINT}`),
            });
          } else resolve({ ok: true, version: stdout.trim() });
        },
      );
    });
  }

  async open(o: {
    url: string;
    branch?: string | undefined;
    credentials?: GitCredentials;
  }): Promise<GitWorkspace> {
    const { host, protocol } = gitHost(o.url);
    const insecure = (this.opts.insecureHosts ?? []).some(
      (h) => h === host || h.replace(/:\d+$/, '') === host,
    );
    if (protocol === 'http' && !insecure) {
      throw new GitError(
        'E_GIT_BLOCKED',
        `${safeUrl(o.url)} is plain http; use https, or list ${host} in GIT_INSECURE_HOSTS`,
      );
    }
    const verdict = await checkHost(host, { resolve: this.opts.resolve, trusted: insecure }).catch(
      (err: unknown) => {
        throw new GitError('E_GIT_NOT_FOUND', `cannot resolve ${host}`, { cause: err });
      },
    );
    if (verdict.blocked) {
      throw new GitError(
        'E_GIT_BLOCKED',
        `${host} resolves to ${verdict.blocked.address}, ${verdict.blocked.why}; list it in GIT_INSECURE_HOSTS if it is your Git server`,
      );
    }
    const path = this.opts.path ?? process.env.PATH ?? '/usr/bin:/bin';
    const git = await onPath('git', path);
    if (git === undefined) throw unavailable('git', path);
    // Connect to the checked address, never to a second DNS answer (rebinding). SSH is not
    // pinned: ssh resolves the name itself (its host key is pinned, though).
    const first = verdict.addresses[0];
    const pin = first === undefined ? undefined : curlResolveEntry(o.url, first);
    if (pin !== undefined) {
      const v = await (this.version ??= this.probe());
      if (!v.ok) throw v.error;
      if (!pinsResolve(v.version)) {
        throw new GitError(
          'E_GIT_UNAVAILABLE',
          `${v.version} cannot pin the checked address of ${host} (http.curloptResolve needs git 2.37 or newer); ${GIT_IMAGE_HINT}`,
        );
      }
    }
    const root = await mkdtemp(join(this.opts.tempDir ?? tmpdir(), 'image-watcher-git-'));
    try {
      const env = await this.prepareEnv(root, protocol, o.credentials, path);
      const dir = join(root, 'repo');
      const ws = new CliWorkspace(
        git,
        dir,
        root,
        env,
        this.opts.timeoutMs ?? 120_000,
        protocol,
        insecure,
        pin,
      );
      await ws.clone(o.url, o.branch);
      return ws;
    } catch (err) {
      await rm(root, { recursive: true, force: true });
      throw err;
    }
  }

  private async prepareEnv(
    root: string,
    protocol: 'https' | 'http' | 'ssh',
    c: GitCredentials | undefined,
    path: string,
  ): Promise<NodeJS.ProcessEnv> {
    const secrets = join(root, 'secrets');
    await mkdir(secrets, { mode: 0o700 });
    const put = (name: string, value: string) => writeFile(join(secrets, name), value, { mode: 0o600 });
    // Only what git needs: none of the watcher's own environment (tokens, keys) reaches it.
    const env: NodeJS.ProcessEnv = {
      PATH: path,
      HOME: root,
      LANG: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: join(root, 'gitconfig'),
    };
    await writeFile(join(root, 'gitconfig'), '', { mode: 0o600 });
    if (protocol === 'ssh') {
      const identity = join(secrets, 'identity');
      const knownHosts = join(secrets, 'known_hosts');
      if (!c?.knownHosts) {
        throw new GitError(
          'E_GIT_CREDENTIALS',
          'an ssh repository needs known_hosts in the Git Secret (host keys are pinned, never trusted on first use)',
        );
      }
      const ssh = await onPath('ssh', path);
      if (ssh === undefined) throw unavailable('ssh', path);
      await put('known_hosts', c.knownHosts.endsWith('\n') ? c.knownHosts : `${c.knownHosts}\n`);
      const options = [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${knownHosts}`,
        '-o',
        'IdentitiesOnly=yes',
      ];
      if (c.identity) {
        await put('identity', c.identity.endsWith('\n') ? c.identity : `${c.identity}\n`);
        options.push('-i', identity);
      }
      const wrapper = join(root, 'ssh.cjs');
      if (SHELL_CHARS.test(wrapper) || /\s/.test(process.execPath)) {
        throw new GitError(
          'E_GIT_FAILED',
          `the Git temp directory ${root} or node's path ${process.execPath} holds spaces or shell characters; git would need a shell to run ssh`,
        );
      }
      await writeFile(wrapper, sshWrapper(process.execPath, ssh, options), { mode: 0o700 });
      await chmod(wrapper, 0o700);
      env.GIT_SSH = wrapper;
      env.GIT_SSH_VARIANT = 'ssh';
    } else if (c && (c.password !== undefined || c.token !== undefined)) {
      // One config entry through the environment (git 2.31+): no askpass program to run.
      env.GIT_CONFIG_COUNT = '1';
      env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
      env.GIT_CONFIG_VALUE_0 = basicHeader(
        c.username ?? (c.token !== undefined ? 'x-access-token' : ''),
        c.password ?? c.token ?? '',
      );
    }
    return env;
  }
}

function classify(stderr: string): GitErrorCode {
  // git without its HTTPS helper, or a program gone since open() looked.
  if (/is not a git command|spawn \S+ ENOENT|image-watcher: cannot run ssh/i.test(stderr)) {
    return 'E_GIT_UNAVAILABLE';
  }
  // The ssh wrapper refused (a noexec temp directory): not an authentication failure.
  if (/^(error|fatal): cannot (exec|run) /m.test(stderr)) return 'E_GIT_FAILED';
  if (
    /authentication failed|could not read (username|password)|permission denied|403|401|host key verification failed/i.test(
      stderr,
    )
  ) {
    return 'E_GIT_AUTH';
  }
  if (
    /not found|does not appear to be a git repository|remote branch .* not found|couldn't find remote ref/i.test(
      stderr,
    )
  ) {
    return 'E_GIT_NOT_FOUND';
  }
  return 'E_GIT_FAILED';
}

/** The last lines git printed, for a message (git prints neither the extra header nor the keys). */
function tail(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('hint:'))
    // git's boilerplate after an ssh failure hides the line that says why.
    .filter(
      (l) =>
        !/^(fatal: Could not read from remote repository|Please make sure you have|and the repository exists)/.test(
          l,
        ),
    );
  return lines.slice(-3).join(' | ').slice(0, 500);
}

class CliWorkspace implements GitWorkspace {
  branch = '';
  private remote = '';

  constructor(
    private readonly git: string,
    private readonly dir: string,
    private readonly root: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly timeoutMs: number,
    private readonly protocol: 'https' | 'http' | 'ssh',
    private readonly insecure: boolean,
    /** `host:port:address` for http.curloptResolve (curlResolveEntry), or none. */
    private readonly pin: string | undefined,
  ) {}

  /** Protocols other than the repository's are off: a submodule or redirect cannot switch. */
  private config(): string[] {
    const allow = this.protocol === 'http' && this.insecure ? 'http' : this.protocol;
    return [
      '-c',
      'protocol.allow=never',
      '-c',
      `protocol.${allow}.allow=always`,
      '-c',
      'credential.helper=',
      '-c',
      'commit.gpgsign=false',
      '-c',
      'core.hooksPath=/dev/null',
      '-c',
      'http.followRedirects=false',
      // No templates (sample hooks): none are needed, and the -git image ships none.
      '-c',
      'init.templateDir=',
      ...(this.pin === undefined ? [] : ['-c', `http.curloptResolve=${this.pin}`]),
    ];
  }

  private run(args: readonly string[], cwd = this.dir, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      execFile(
        this.git,
        [...this.config(), ...args],
        { cwd, env: { ...this.env, ...extraEnv }, timeout: this.timeoutMs, maxBuffer: 4 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}\n${err.message}` : stderr });
        },
      );
    });
  }

  private async must(
    args: readonly string[],
    what: string,
    cwd?: string,
    extraEnv?: NodeJS.ProcessEnv,
  ): Promise<string> {
    const r = await this.run(args, cwd, extraEnv);
    if (r.code !== 0) {
      const code = classify(r.stderr);
      const hint = code === 'E_GIT_UNAVAILABLE' ? `; ${GIT_IMAGE_HINT}` : '';
      throw new GitError(code, `git ${what} failed: ${tail(r.stderr)}${hint}`);
    }
    return r.stdout;
  }

  async clone(url: string, branch: string | undefined): Promise<void> {
    this.remote = url;
    const args = ['clone', '--quiet', '--depth', '1', '--no-tags', '--single-branch'];
    if (branch !== undefined) args.push('--branch', branch);
    // `--` so a URL can never be read as an option.
    args.push('--', url, this.dir);
    await this.must(args, `clone of ${safeUrl(url)}`, this.root);
    this.branch = (await this.must(['rev-parse', '--abbrev-ref', 'HEAD'], 'rev-parse')).trim();
    await this.must(['update-ref', BASE_REF, 'HEAD'], 'update-ref');
  }

  async readFiles(path: string): Promise<Map<string, string>> {
    const target = join(this.dir, path);
    const rel = relative(this.dir, target);
    if (rel.startsWith('..') || rel.split(sep).includes('.git')) {
      throw new GitError('E_GIT_FAILED', `git-path ${path} is outside the repository`);
    }
    const out = new Map<string, string>();
    const info = await stat(target).catch(() => undefined);
    if (!info)
      throw new GitError('E_GIT_NOT_FOUND', `git-path ${path} does not exist on branch ${this.branch}`);
    const files: string[] = [];
    if (info.isFile()) files.push(target);
    else {
      for (const e of await readdir(target, { recursive: true, withFileTypes: true })) {
        if (!e.isFile() || !EDITABLE.test(e.name)) continue;
        const full = join(e.parentPath, e.name);
        if (relative(this.dir, full).split(sep).includes('.git')) continue;
        files.push(full);
        if (files.length > MAX_FILES) {
          throw new GitError(
            'E_GIT_FAILED',
            `git-path ${path} holds more than ${MAX_FILES} files; name a smaller folder`,
          );
        }
      }
    }
    for (const f of files.sort()) {
      const s = await stat(f);
      if (s.size > MAX_FILE_BYTES) continue;
      out.set(relative(this.dir, f).split(sep).join('/'), await readFile(f, 'utf8'));
    }
    return out;
  }

  async writeFile(file: string, text: string): Promise<void> {
    const full = join(this.dir, file);
    const rel = relative(this.dir, full);
    if (rel.startsWith('..') || rel.split(sep).includes('.git')) {
      throw new GitError('E_GIT_FAILED', `${file} is outside the repository`);
    }
    await writeFile(full, text);
  }

  async commit(message: string, id: GitIdentity): Promise<string | undefined> {
    await this.must(['add', '--all'], 'add');
    const diff = await this.run(['diff', '--cached', '--quiet']);
    if (diff.code === 0) return undefined;
    const msgFile = await this.messageFile(message);
    await this.must(
      ['commit', '--quiet', '--no-verify', '--file', msgFile],
      'commit',
      undefined,
      identityEnv(id),
    );
    return (await this.must(['rev-parse', 'HEAD'], 'rev-parse')).trim();
  }

  async push(branch: string): Promise<'pushed' | 'rejected'> {
    const r = await this.run(['push', '--quiet', '--porcelain', 'origin', `HEAD:refs/heads/${branch}`]);
    if (r.code === 0) return 'pushed';
    const text = `${r.stdout}\n${r.stderr}`;
    if (
      /\[rejected\]|non-fast-forward|fetch first|\(stale info\)|failed to update ref|cannot lock ref/i.test(
        text,
      )
    ) {
      return 'rejected';
    }
    throw new GitError(classify(text), `git push to ${safeUrl(this.remote)} failed: ${tail(text)}`);
  }

  async reset(branch = this.branch): Promise<void> {
    await this.must(
      ['fetch', '--quiet', '--depth', '1', '--no-tags', 'origin', `refs/heads/${branch}`],
      'fetch',
    );
    await this.must(['reset', '--quiet', '--hard', 'FETCH_HEAD'], 'reset');
  }

  async remoteHas(branch: string): Promise<boolean> {
    return (await this.remoteBranches([branch])).has(branch);
  }

  async remoteBranches(branches: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    if (branches.length === 0) return found;
    const refs = branches.map((b) => `refs/heads/${b}`);
    const out = await this.must(['ls-remote', '--heads', 'origin', ...refs], 'ls-remote');
    // ls-remote matches patterns by their tail: keep the exact names only.
    const wanted = new Set(refs);
    for (const line of out.split('\n')) {
      const ref = line.split('\t')[1]?.trim();
      if (ref !== undefined && wanted.has(ref)) found.add(ref.slice('refs/heads/'.length));
    }
    return found;
  }

  async switchTo(branch: string, id: GitIdentity): Promise<'switched' | 'conflict'> {
    const base = `+refs/heads/${this.branch}:${BASE_REF}`;
    const head = `+refs/heads/${branch}:${HEAD_REF}`;
    const fetch = ['fetch', '--quiet', '--no-tags'];
    // The base again: after a rejected push it may have moved on too.
    await this.must([...fetch, '--depth', '1', 'origin', base], 'fetch');
    if (!(await this.remoteHas(branch))) {
      await this.must(['checkout', '--quiet', '-B', branch, BASE_REF], 'checkout');
      return 'switched';
    }
    await this.must([...fetch, '--depth', '1', 'origin', head], 'fetch');
    await this.must(['checkout', '--quiet', '-B', branch, HEAD_REF], 'checkout');
    // Shallow history: deepen both until they share a commit, never the whole history.
    for (const n of DEEPEN_STEPS) {
      if ((await this.run(['merge-base', 'HEAD', BASE_REF])).code === 0) break;
      await this.must([...fetch, `--deepen=${n}`, 'origin', base, head], 'fetch');
    }
    if ((await this.run(['merge-base', 'HEAD', BASE_REF])).code !== 0) return 'conflict';
    const msgFile = await this.messageFile(`Merge branch '${this.branch}' into ${branch}`);
    // After a squash or rebase merge the base holds the branch's change as another commit:
    // identical edits merge cleanly, and the request's diff is only what is written next.
    const r = await this.run(
      ['merge', '--quiet', '--no-edit', '--no-verify', '--file', msgFile, BASE_REF],
      undefined,
      identityEnv(id),
    );
    if (r.code === 0) return 'switched';
    if ((await this.run(['rev-parse', '--quiet', '--verify', 'MERGE_HEAD'])).code === 0) {
      await this.must(['merge', '--abort'], 'merge --abort');
      return 'conflict';
    }
    throw new GitError(
      classify(r.stderr),
      `git merge of ${this.branch} into ${branch} failed: ${tail(r.stderr)}`,
    );
  }

  async sameAsBase(files: readonly string[]): Promise<boolean> {
    if (files.length === 0) return false;
    const r = await this.run(['diff', '--quiet', '--no-ext-diff', BASE_REF, 'HEAD', '--', ...files]);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    throw new GitError(classify(r.stderr), `git diff against ${this.branch} failed: ${tail(r.stderr)}`);
  }

  /** A commit message in a file: argv stays short and unquoted (stdin's stand-in). */
  private async messageFile(message: string): Promise<string> {
    const file = join(this.root, 'message');
    await writeFile(file, message.endsWith('\n') ? message : `${message}\n`, { mode: 0o600 });
    return file;
  }

  async close(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}
