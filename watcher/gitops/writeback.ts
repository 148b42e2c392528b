// The Git write-back: versions due in one pass for one repository and branch are edited into
// one shallow checkout and pushed as one commit (GIT_COMMIT_PER_WORKLOAD: one per workload). A
// push the remote refuses because it moved on is redone on a fresh fetch, a bounded number of
// times; nothing is ever force-pushed. Editing a file already at the version commits nothing, so
// a retry after a crash never pushes twice.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { GitPush } from '../../shared/annotations.ts';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import type { EditRequest } from './edit/index.ts';
import { parseImageReference } from '../../shared/image-ref.ts';
import type { VersionChange } from '../../shared/version.ts';
import type { GitPushResult, SupersededResult } from '../metrics.ts';
import type { Timers } from '../reconcile/queue.ts';
import { realTimers } from '../reconcile/queue.ts';
import type { GitClient, GitCredentials, GitIdentity, GitProbe, GitWorkspace } from './git.ts';
import { GitError, safeUrl } from './git.ts';
import { OWN_BRANCH_PREFIX } from './pull-request.ts';
import type { PullRequestClient, SupersedeInput } from './pull-request.ts';
import { commitUrl } from './urls.ts';

/** The editor (edit/index.ts editFiles): the one file changed; throws EditError when refused. */
export type EditFiles = (
  files: ReadonlyMap<string, string>,
  req: EditRequest,
) => { file: string; text: string };

/** Where a workload's manifests live. */
export interface GitTarget {
  repo: string;
  /** Undefined: the remote's default branch. */
  branch: string | undefined;
  path: string;
  push: GitPush;
  /** Secret in the workload's namespace with the credentials, or none (anonymous). */
  secret: string | undefined;
}

export interface GitChange {
  container: string;
  /** The image as it runs now (and as the file is expected to hold it). */
  image: string;
  currentVersion: string;
  newVersion: string;
  change: VersionChange;
  releaseNotesUrl?: string | undefined;
}

export interface WriteBackRequest {
  kind: 'update' | 'revert';
  workload: { kind: string; namespace: string; name: string };
  target: GitTarget;
  changes: GitChange[];
  /** Why a revert is written (the failed rollout's reason). */
  reason?: string | undefined;
}

export type { GitPushResult };

export type WriteBackResult =
  | {
      result: 'pushed' | 'unchanged';
      branch: string;
      commit: string | undefined;
      /** Web link of the commit (GitHub, GitLab) or of the pull request, when known. */
      url: string | undefined;
      /**
       * The base branch already holds the versions (a request squash-merged before a crash
       * retry): nothing was pushed or proposed, the sync brings them.
       */
      inBase?: boolean;
    }
  | { result: 'failed'; code: string; reason: string };

export interface WriteBackDeps {
  git: GitClient;
  edit: EditFiles;
  /** The Secret's keys (username/password/token, identity/known_hosts), or undefined when absent. */
  credentials: (namespace: string, secret: string) => Promise<GitCredentials | undefined>;
  identity: GitIdentity;
  commitPerWorkload: boolean;
  pullRequests?: PullRequestClient | undefined;
  metrics?: {
    observeGitPush(result: GitPushResult): void;
    observeSupersededRequest(result: SupersededResult): void;
  };
  logger: Logger;
  timers?: Timers;
  /** Requests arriving within this time of the first one of their repository share a commit. */
  windowMs?: number;
  /** Pushes per commit, the first included, before a moving remote counts as a failure. */
  maxAttempts?: number;
}

interface Pending {
  req: WriteBackRequest;
  resolve(r: WriteBackResult): void;
}

interface Batch {
  items: Pending[];
  handle: unknown;
}

function versionParts(v: string): { tag: string; digest?: string } {
  const at = v.indexOf('@');
  return at < 0 ? { tag: v } : { tag: v.slice(0, at), digest: v.slice(at + 1) };
}

function who(w: WriteBackRequest['workload']): string {
  return `${w.namespace}/${w.name}`;
}

/** The subject line of one request, also what a revert names. */
export function subjectOf(req: WriteBackRequest): string {
  const list = req.changes.map((c) => `${c.container} ${c.currentVersion} -> ${c.newVersion}`).join(', ');
  return req.kind === 'revert'
    ? `Revert ${who(req.workload)} ${list}`
    : `Update ${who(req.workload)} ${list}`;
}

/** A message a reviewer would accept: what, where, from -> to, kind of change, release notes. */
export function commitMessage(reqs: readonly WriteBackRequest[]): string {
  const subject =
    reqs.length === 1
      ? subjectOf(reqs[0]!)
      : `${reqs[0]!.kind === 'revert' ? 'Revert' : 'Update'} images of ${reqs.length} workloads`;
  const body: string[] = [];
  for (const r of reqs) {
    for (const c of r.changes) {
      body.push(`${r.workload.kind} ${who(r.workload)}, container ${c.container}:`);
      const ref = safeRef(c.image);
      body.push(`  ${ref ? ref.name : c.image}: ${c.currentVersion} -> ${c.newVersion} (${c.change})`);
      if (c.releaseNotesUrl) body.push(`  Release notes: ${c.releaseNotesUrl}`);
    }
    if (r.kind === 'revert') {
      body.push(
        `  The rollout failed${r.reason ? ` (${r.reason})` : ''}; image-watcher will not write this version again.`,
      );
    }
  }
  return `${subject.length > 72 ? `${subject.slice(0, 69)}...` : subject}\n\n${body.join('\n')}\n\nWritten by image-watcher.\n`;
}

function safeRef(image: string): ImageReference | undefined {
  try {
    return parseImageReference(image);
  } catch {
    return undefined;
  }
}

/** A lower-case [a-z0-9.-] slug of free text: no `..`, no leading or trailing dot or dash. */
function slug(text: string, max: number): string {
  const trim = (s: string) => s.replace(/^[.-]+|[.-]+$/g, '');
  const s = trim(
    text
      .toLowerCase()
      .replace(/[^a-z0-9.]+/g, '-')
      .replace(/\.{2,}/g, '.'),
  );
  return trim(s.slice(0, max)) || 'x';
}

/** 64 bits of SHA-256, tagged by what is hashed so a name and an update never share one. */
function digest(tag: string, text: string): string {
  return createHash('sha256').update(`${tag}\0${text}`).digest('hex').slice(0, 16);
}

/** DNS-1123 label (a namespace) and subdomain (a workload's name): no `_`, no `..`, no leading dot. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
/**
 * A name longer than this is shortened: a ref component is a file name (<= 255 bytes), and git
 * writes `<component>.lock` next to it; the fallback suffix `_10` and a kind must fit too.
 */
const NAME_MAX = 200;

/**
 * A namespace or name as one ref component: itself when Kubernetes allows it (so it is already a
 * valid component) and short, else a slug and a hash of the exact text after `_`, a character no
 * Kubernetes name holds: the two forms never meet, and distinct texts get distinct hashes.
 */
function component(text: string, valid: RegExp, max: number): string {
  if (text.length <= max && valid.test(text) && !text.endsWith('.lock')) return text;
  return `${slug(text, 100)}_${digest('name', text)}`;
}

/**
 * The branch a batch is pushed to: the base, or `image-watcher/<namespace>/<last>`. `<last>` is
 * the workload's name for its pull request (`_statefulset`, `_daemonset`, `_cronjob` appended for
 * those kinds), else (one branch per update, or several workloads) a slug and a hash of every
 * workload, container and version it holds. Split at `_`, `<last>` reads back unambiguously: a
 * plain name has no `_`, a hash is 16 hex digits, a kind letters, a fallback (checkout) 1-2 digits.
 */
export function pushBranch(reqs: readonly WriteBackRequest[], base: string): string {
  const first = reqs[0]!;
  const push = first.target.push;
  if (push === 'direct' || first.kind === 'revert') return base;
  const ns = component(first.workload.namespace, LABEL, 63);
  if (push === 'pull-request' && reqs.length === 1) {
    const kind = first.workload.kind.toLowerCase();
    const name = component(first.workload.name, SUBDOMAIN, NAME_MAX);
    const suffix = kind === 'deployment' ? '' : `_${kind.replace(/[^a-z]/g, '') || 'x'}`;
    return `${OWN_BRANCH_PREFIX}${ns}/${name}${suffix}`;
  }
  // Sorted: a retry that batches the same updates in another order names the same branch.
  const entries = reqs
    .map((r) => ({
      r,
      key: JSON.stringify([
        r.workload.kind,
        r.workload.namespace,
        r.workload.name,
        r.changes.map((c) => [c.container, c.newVersion]),
      ]),
    }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const identity = JSON.stringify([push, ...entries.map((e) => e.key)]);
  const lead = entries[0]!.r;
  const versions = entries.flatMap((e) => e.r.changes.map((c) => c.newVersion.split('@')[0]!));
  const readable =
    push === 'pull-request' || reqs.length > 1
      ? `${lead.workload.name}-and-${reqs.length - 1}-more`
      : `${lead.workload.name}-${versions.join('-')}`;
  return `${OWN_BRANCH_PREFIX}${ns}/${slug(readable, 100)}_${digest('update', identity)}`;
}

/**
 * The branch the watcher used before branches were named by namespace and name, exactly as it
 * made it (`image-watcher/<namespace>-<name>`, cut at 80): it mapped distinct workloads to one
 * branch (`shop/web-x` and `shop-web/x`). Kept only to close such a request once (openRequest).
 */
export function legacyBranch(reqs: readonly WriteBackRequest[]): string {
  const legacySlug = (text: string) =>
    text
      .toLowerCase()
      .replace(/[^a-z0-9.]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .replace(/\.{2,}/g, '.')
      .slice(0, 80) || 'update';
  const names = reqs.map((r) => `${r.workload.namespace}-${r.workload.name}`);
  const head = names.length === 1 ? names[0]! : `${names[0]!}-and-${names.length - 1}-more`;
  if (reqs[0]!.target.push === 'pull-request') return `${OWN_BRANCH_PREFIX}${legacySlug(head)}`;
  const versions = reqs.flatMap((r) => r.changes.map((c) => c.newVersion.split('@')[0]!));
  return `${OWN_BRANCH_PREFIX}${legacySlug(`${head}-${versions.join('-')}`)}`;
}

/** Request branches tried per workload (the name, then _2...) before giving up. */
const MAX_BRANCHES = 10;

/** The n-th branch tried for `wanted`: itself, then `_2`... (`_`: no workload's name holds it). */
export function fallbackBranch(wanted: string, n: number): string {
  return n === 1 ? wanted : `${wanted}_${n}`;
}

/** The workload's request branches besides `branch` and the ones it replaced (`skip`). */
export function siblingBranches(wanted: string, branch: string, skip: readonly string[]): string[] {
  return Array.from({ length: MAX_BRANCHES }, (_, i) => fallbackBranch(wanted, i + 1)).filter(
    (b) => b !== branch && !skip.includes(b),
  );
}

/** The branches a request on `branch` replaced: `wanted`, `wanted_2`... up to the one before it. */
export function supersededBy(wanted: string, branch: string): string[] {
  if (branch === wanted || !branch.startsWith(`${wanted}_`)) return [];
  const digits = branch.slice(wanted.length + 1);
  const n = Number(digits);
  if (!/^[0-9]{1,2}$/.test(digits) || n < 2) return [];
  return Array.from({ length: n - 1 }, (_, i) => fallbackBranch(wanted, i + 1));
}

/**
 * The old-style request branches of a workload (its legacy name, then `-2`... as the old code
 * made them). They may belong to another workload, so only a request whose title and description
 * (the watcher's commit message: `Update <namespace>/<name> ...`, `<Kind> <namespace>/<name>,
 * container ...`) name this one is closed: `/` is in no namespace or name, so they are
 * unambiguous where the branch name was not.
 */
export function legacyRequests(
  reqs: readonly WriteBackRequest[],
): { heads: string[]; titlePrefix: string; bodyLine: string } | undefined {
  const first = reqs[0]!;
  if (reqs.length !== 1 || first.target.push !== 'pull-request' || first.kind !== 'update') return undefined;
  const legacy = legacyBranch(reqs);
  return {
    heads: Array.from({ length: MAX_BRANCHES }, (_, i) => (i === 0 ? legacy : `${legacy}-${i + 1}`)),
    titlePrefix: `Update ${who(first.workload)} `,
    // commitMessage's line per container: tells a Deployment from a StatefulSet of one name.
    bodyLine: `${first.workload.kind} ${who(first.workload)}, container `,
  };
}

export class GitWriteBack {
  private readonly batches = new Map<string, Batch>();
  private readonly timers: Timers;
  private probed: Promise<GitProbe> | undefined;

  constructor(private readonly deps: WriteBackDeps) {
    this.timers = deps.timers ?? realTimers;
  }

  /**
   * Looks for git once, when write-back to Git is first configured or seen: the default image
   * has none, and otherwise that shows only as the first write-back failing. Never rejects.
   */
  probe(): Promise<GitProbe> {
    this.probed ??= this.deps.git.probe().then(
      (r) => {
        if (r.ok) this.deps.logger.info({ git: r.version }, 'git found for the Git write-back');
        else {
          this.deps.logger.warn(
            { code: r.error.code, reason: r.error.message },
            'Git write-back is configured but git is missing: every write-back will fail with E_GIT_UNAVAILABLE until the watcher runs the image tagged <version>-git',
          );
        }
        return r;
      },
      (err: unknown) => {
        const error = new GitError('E_GIT_UNAVAILABLE', `cannot look for git: ${String(err)}`);
        this.deps.logger.warn({ code: error.code, reason: error.message }, 'cannot look for git');
        return { ok: false as const, error };
      },
    );
    return this.probed;
  }

  /** Resolves with the outcome; never rejects (failures are results with a reason). */
  submit(req: WriteBackRequest): Promise<WriteBackResult> {
    const t = req.target;
    const key = [
      req.kind,
      t.repo,
      t.branch ?? '',
      t.push,
      `${req.workload.namespace}/${t.secret ?? ''}`,
      // The kind too: a Deployment and a StatefulSet of one name are two workloads.
      this.deps.commitPerWorkload || t.push === 'pull-request'
        ? `${req.workload.kind} ${who(req.workload)}`
        : '',
    ].join('\n');
    return new Promise((resolve) => {
      let b = this.batches.get(key);
      if (!b) {
        const batch: Batch = { items: [], handle: undefined };
        batch.handle = this.timers.setTimeout(() => {
          this.batches.delete(key);
          void this.flush(batch.items);
        }, this.deps.windowMs ?? 1000);
        this.batches.set(key, batch);
        b = batch;
      }
      b.items.push({ req, resolve });
    });
  }

  private async flush(items: Pending[]): Promise<void> {
    const first = items[0]!.req;
    const log = this.deps.logger.child({ repo: safeUrl(first.target.repo), branch: first.target.branch });
    let ws: GitWorkspace | undefined;
    const outcome = new Map<Pending, WriteBackResult>();
    try {
      const credentials =
        first.target.secret === undefined
          ? undefined
          : await this.deps.credentials(first.workload.namespace, first.target.secret);
      if (first.target.secret !== undefined && credentials === undefined) {
        throw new GitError(
          'E_GIT_CREDENTIALS',
          `Secret ${first.workload.namespace}/${first.target.secret} (image-watcher/git-secret) does not exist`,
        );
      }
      ws = await this.deps.git.open({
        url: first.target.repo,
        branch: first.target.branch,
        ...(credentials ? { credentials } : {}),
      });
      // `ws` stays a let for the cleanup below; the request closure needs the opened one.
      const opened = ws;
      const base = ws.branch;
      const wanted = pushBranch(
        items.map((i) => i.req),
        base,
      );
      let branch = wanted === base ? base : await this.checkout(ws, wanted, log);
      const attempts = this.deps.maxAttempts ?? 4;
      for (let attempt = 1; ; attempt++) {
        outcome.clear();
        const { applied, files } = await this.applyAll(ws, items, outcome);
        if (applied.length === 0) break;
        const message = commitMessage(applied.map((p) => p.req));
        const commit = await ws.commit(message, this.deps.identity);
        const openRequest = async (): Promise<string | undefined> => {
          if (first.target.push !== 'pull-request' || !this.deps.pullRequests) return undefined;
          const pr = await this.deps.pullRequests.openOrUpdate({
            repo: first.target.repo,
            head: branch,
            base,
            title: message.split('\n')[0]!,
            body: message,
            ...(credentials ? { credentials } : {}),
          });
          const heads = supersededBy(wanted, branch);
          // Any other request branch of the workload (a deleted one made again while `_2` was
          // open): one open request per workload. Only branches the remote has: a deleted head
          // branch's request is closed by the forge.
          const others = await opened.remoteBranches(siblingBranches(wanted, branch, heads)).then(
            (found) => [...found],
            (err: unknown) => {
              log.warn(
                { reason: err instanceof Error ? err.message : String(err) },
                'cannot list the other request branches',
              );
              return [];
            },
          );
          await this.closeSuperseded(
            {
              repo: first.target.repo,
              heads,
              others,
              // Old-style requests: looked for once, when the new-style request is opened.
              legacy: pr.created ? legacyRequests(applied.map((p) => p.req)) : undefined,
              base,
              by: { head: branch, url: pr.url },
            },
            credentials,
            log,
          );
          return pr.url;
        };
        if (commit === undefined && branch !== base && (await ws.sameAsBase([...files]))) {
          // A retry after the request was squash-merged (the branch kept or deleted): the base
          // already holds every edit, and a request would be empty (GitHub refuses it with 422).
          for (const p of applied) {
            outcome.set(p, {
              result: 'unchanged',
              branch: base,
              commit: undefined,
              url: undefined,
              inBase: true,
            });
          }
          this.deps.metrics?.observeGitPush('unchanged');
          log.info(
            { workloads: applied.map((p) => who(p.req.workload)), base },
            'the base branch already holds these versions (merged); nothing to propose',
          );
          break;
        }
        if (commit === undefined) {
          // Already in Git (a retry): the request must still exist.
          const url = await openRequest();
          for (const p of applied) outcome.set(p, { result: 'unchanged', branch, commit: undefined, url });
          this.deps.metrics?.observeGitPush('unchanged');
          log.info(
            { workloads: applied.map((p) => who(p.req.workload)) },
            'Git already holds these versions',
          );
          break;
        }
        const pushed = await ws.push(branch);
        if (pushed === 'pushed') {
          const url = (await openRequest()) ?? commitUrl(first.target.repo, commit);
          for (const p of applied) outcome.set(p, { result: 'pushed', branch, commit, url });
          this.deps.metrics?.observeGitPush('pushed');
          log.info(
            { commit, branch, attempt, workloads: applied.map((p) => who(p.req.workload)) },
            'pushed to Git',
          );
          break;
        }
        this.deps.metrics?.observeGitPush('rejected');
        if (branch !== base) await this.folderClash(ws, branch);
        if (attempt >= attempts) {
          throw new GitError(
            'E_GIT_REJECTED',
            `the remote branch ${branch} kept moving: ${attempts} pushes were refused as non-fast-forward`,
          );
        }
        log.info({ attempt, branch }, 'push refused (the remote moved on); fetching again and reapplying');
        if (branch === base) await ws.reset(branch);
        else branch = await this.checkout(ws, wanted, log);
      }
    } catch (err) {
      const code = err instanceof ImageWatcherError ? err.code : 'E_GIT_FAILED';
      const reason = err instanceof Error ? err.message : String(err);
      log.warn({ code, reason }, 'Git write-back failed');
      this.deps.metrics?.observeGitPush('failed');
      for (const p of items) if (!outcome.has(p)) outcome.set(p, { result: 'failed', code, reason });
    } finally {
      await ws?.close().catch(() => undefined);
    }
    for (const p of items)
      p.resolve(outcome.get(p) ?? { result: 'failed', code: 'E_GIT_FAILED', reason: 'not written' });
  }

  /** Closes the requests of the branches a fresh one replaced; a failure never fails the write-back. */
  private async closeSuperseded(
    input: Omit<SupersedeInput, 'credentials'>,
    credentials: GitCredentials | undefined,
    log: Logger,
  ): Promise<void> {
    const client = this.deps.pullRequests;
    if ((input.heads.length === 0 && !input.others?.length && !input.legacy) || !client) return;
    try {
      const outcomes = await client.closeSuperseded({ ...input, ...(credentials ? { credentials } : {}) });
      for (const o of outcomes) {
        this.deps.metrics?.observeSupersededRequest(o.result);
        if (o.result === 'closed' && o.reason === undefined) {
          log.info({ closed: o.url, by: input.by.url }, 'closed the request a fresh branch replaced');
        } else {
          log.warn(
            { request: o.url, result: o.result, reason: o.reason, by: input.by.url },
            o.result === 'closed'
              ? 'closed the request a fresh branch replaced, without its comment'
              : 'cannot close the request a fresh branch replaced',
          );
        }
      }
    } catch (err) {
      this.deps.metrics?.observeSupersededRequest('failed');
      const code = err instanceof ImageWatcherError ? err.code : 'E_GIT_PR_FAILED';
      const reason = err instanceof Error ? err.message : String(err);
      log.warn(
        { code, reason, heads: input.heads, by: input.by.url },
        'cannot close the requests a fresh branch replaced',
      );
    }
  }

  /**
   * The request branch, with the base merged in. When the base conflicts with it (someone edited
   * the same lines on the base), a fresh branch off the base (`_2`, `_3`...) and a new request:
   * what Renovate does by recreating the branch, without a force-push; a failure instead would
   * stop every update of the workload until someone resolves a conflict by hand.
   */
  private async checkout(ws: GitWorkspace, wanted: string, log: Logger): Promise<string> {
    for (let n = 1; n <= MAX_BRANCHES; n++) {
      const name = fallbackBranch(wanted, n);
      if ((await ws.switchTo(name, this.deps.identity)) === 'switched') return name;
      log.info({ branch: name }, 'the base does not merge cleanly into the branch; trying a fresh branch');
    }
    throw new GitError(
      'E_GIT_CONFLICT',
      `the base ${ws.branch} conflicts with ${wanted} and its ${MAX_BRANCHES - 1} fresh branches; merge or delete them`,
    );
  }

  /**
   * A ref is a file: while the remote holds `image-watcher/shop-web` (an old-style name), no
   * `image-watcher/shop-web/...` can be created, and retrying cannot help. Said plainly instead
   * of as a remote that kept moving.
   */
  private async folderClash(ws: GitWorkspace, branch: string): Promise<void> {
    const parts = branch.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (await ws.remoteHas(prefix)) {
        throw new GitError(
          'E_GIT_REJECTED',
          `the remote has a branch ${prefix}, so git cannot create ${branch} beside it (a ref cannot be a file and a folder); delete or rename ${prefix} (an old-style image-watcher branch once its request is closed)`,
        );
      }
    }
  }

  /** Edits every request into the checkout; a refused one fails alone, the others go on. */
  private async applyAll(
    ws: GitWorkspace,
    items: Pending[],
    outcome: Map<Pending, WriteBackResult>,
  ): Promise<{ applied: Pending[]; files: Set<string> }> {
    const texts = new Map<string, string>();
    const applied: Pending[] = [];
    for (const p of items) {
      const { req } = p;
      try {
        const files = await ws.readFiles(req.target.path);
        for (const [f, text] of texts) if (files.has(f)) files.set(f, text);
        const written = new Map<string, string>();
        for (const c of req.changes) {
          const image = parseImageReference(c.image);
          const edited = this.deps.edit(files, {
            workload: req.workload,
            container: c.container,
            image,
            to: versionParts(c.newVersion),
          });
          files.set(edited.file, edited.text);
          written.set(edited.file, edited.text);
        }
        for (const [f, text] of written) {
          await ws.writeFile(f, text);
          texts.set(f, text);
        }
        applied.push(p);
      } catch (err) {
        if (err instanceof GitError && err.code !== 'E_GIT_NOT_FOUND') throw err;
        const code = err instanceof ImageWatcherError ? err.code : 'E_EDIT';
        const reason = err instanceof Error ? err.message : String(err);
        this.deps.metrics?.observeGitPush('refused');
        this.deps.logger.warn({ workload: who(req.workload), code, reason }, 'cannot edit the file in Git');
        outcome.set(p, { result: 'failed', code, reason });
      }
    }
    return { applied, files: new Set(texts.keys()) };
  }
}
