import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { ManagedState, WatchSettings } from '../../shared/annotations.ts';
import { readManagedState } from '../../shared/annotations.ts';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import { canonicalName, parseImageReference } from '../../shared/image-ref.ts';
import type { Held } from '../../shared/policy.ts';
import { compareTags, parseTag } from '../../shared/version.ts';
import type { ContainerInfo, KubeGateway, WorkloadSnapshot } from '../kube/types.ts';
import type { RegistryClient, RegistryCredentials } from '../registry/types.ts';
import type { Candidate } from './decide.ts';
import {
  digestCandidate,
  runningVersion,
  skippedVersions,
  tagCandidate,
  tagCandidates,
  watchedContainers,
} from './decide.ts';

export interface CheckTarget {
  key: string;
  snapshot: WorkloadSnapshot;
  settings: WatchSettings;
}

export interface WatchedContainer {
  info: ContainerInfo;
  ref: ImageReference;
}

export interface ContainerStatus {
  name: string;
  image: string;
  current: string;
  /** Newest allowed version (the current one when up to date); undefined when it could not be asked. */
  latest: string | undefined;
  candidate: Candidate | undefined;
  error: { code: string; message: string } | undefined;
  /** Why a newer allowed version than `candidate` waits (the newest held one), when one does. */
  held?: Held | undefined;
}

/**
 * Policy gates' say on one container's allowed candidates (newest first): the first that passes,
 * the newest held one, or `pending` while an answer is still coming (never awaited in evaluate).
 */
export type CandidateChoice =
  { pending: true } | { pending: false; candidate: Candidate | undefined; held: Held | undefined };

export type CandidateChooser = (input: {
  target: CheckTarget;
  container: WatchedContainer;
  candidates: readonly Candidate[];
}) => CandidateChoice;

/** Allowed candidates a container may fall back on when newer ones are held. */
export const MAX_FALLBACK_CANDIDATES = 5;

export interface WorkloadCheck {
  key: string;
  snapshot: WorkloadSnapshot;
  settings: WatchSettings;
  state: ManagedState;
  watched: WatchedContainer[];
  containers: ContainerStatus[];
  candidates: Candidate[];
  /** First error of any container, for the API's `lastError`. */
  error: { code: string; message: string } | undefined;
  /** Some gate answer is still coming: the check is not final (the key is queued again). */
  pending?: boolean;
}

export interface CheckerDeps {
  registry: RegistryClient;
  gateway: Pick<KubeGateway, 'getDockerConfigSecret' | 'getServiceAccountPullSecrets'>;
  credentialsFor: (registry: string, dockerConfigJson: unknown) => RegistryCredentials | undefined;
  /** Parsed DOCKER_CONFIG `config.json`, the fallback when no pull secret matches. */
  fallbackDockerConfig?: unknown;
  /** Repositories asked at once. */
  concurrency: number;
  logger: Logger;
  /**
   * Digest first seen behind a non-version tag, per `workload key|container|image`. Owned by the
   * caller so it survives cycles; a first sighting records the baseline and never notifies.
   */
  digestBaselines: Map<string, string>;
  /**
   * With `pass`: a new digest counts as an update only once it was seen unchanged in two
   * consecutive passes (a registry that answers HEAD with a new digest every time must not cause a
   * rollout every pass). Without it (one-shot CLI checks) a single sighting counts.
   */
  digestSightings?: Map<string, DigestSighting>;
  /** Number of the periodic pass this check belongs to (see digestSightings). */
  pass?: number;
}

/** A digest behind a tag that differs from the known one, and the passes it was seen in. */
export interface DigestSighting {
  digest: string;
  firstPass: number;
  lastPass: number;
}

function toError(err: unknown): { code: string; message: string } {
  if (err instanceof ImageWatcherError) return { code: err.code, message: err.message };
  return { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Secrets and service accounts are read at most once per cycle, however many workloads share them. */
export class CredentialResolver {
  private readonly secrets = new Map<string, Promise<unknown>>();
  private readonly accounts = new Map<string, Promise<string[]>>();
  constructor(
    private readonly deps: Pick<
      CheckerDeps,
      'gateway' | 'logger' | 'credentialsFor' | 'fallbackDockerConfig'
    >,
  ) {}

  private secret(namespace: string, name: string): Promise<unknown> {
    const key = `${namespace}/${name}`;
    let p = this.secrets.get(key);
    if (!p) {
      p = this.deps.gateway.getDockerConfigSecret(namespace, name).catch((err: unknown) => {
        // A missing or unreadable secret is not fatal: anonymous access may still work.
        this.deps.logger.debug({ namespace, secret: name, err: toError(err) }, 'cannot read pull secret');
        return undefined;
      });
      this.secrets.set(key, p);
    }
    return p;
  }

  private accountSecrets(namespace: string, name: string): Promise<string[]> {
    const key = `${namespace}/${name}`;
    let p = this.accounts.get(key);
    if (!p) {
      p = this.deps.gateway.getServiceAccountPullSecrets(namespace, name).catch((err: unknown) => {
        this.deps.logger.debug(
          { namespace, serviceAccount: name, err: toError(err) },
          'cannot read service account',
        );
        return [];
      });
      this.accounts.set(key, p);
    }
    return p;
  }

  async forWorkload(w: WorkloadSnapshot, registry: string): Promise<RegistryCredentials | undefined> {
    const names = [
      ...w.imagePullSecrets,
      ...(await this.accountSecrets(w.namespace, w.serviceAccountName || 'default')),
    ];
    for (const name of new Set(names)) {
      const config = await this.secret(w.namespace, name);
      if (config === undefined) continue;
      const creds = this.deps.credentialsFor(registry, config);
      if (creds) return creds;
    }
    return this.deps.fallbackDockerConfig === undefined
      ? undefined
      : this.deps.credentialsFor(registry, this.deps.fallbackDockerConfig);
  }
}

interface RepoGroup {
  ref: ImageReference;
  workloads: WorkloadSnapshot[];
  /** Non-version tags asked for their digest (strategy ALL). */
  digestTags: Set<string>;
}

export type RepoResult =
  | { ok: true; tags: string[]; digests: Map<string, string | { code: string; message: string }> }
  | { ok: false; error: { code: string; message: string } };

/**
 * One check cycle over many workloads: every repository's tag list is asked once, with bounded
 * concurrency; a failing registry or repository marks only the containers that use it.
 */
export async function checkWorkloads(
  targets: readonly CheckTarget[],
  deps: CheckerDeps,
): Promise<WorkloadCheck[]> {
  const prepared = targets.map((t) => prepare(t));
  const groups = new Map<string, RepoGroup>();
  for (const p of prepared) {
    for (const c of p.watched) {
      const repoKey = canonicalName(c.ref);
      let g = groups.get(repoKey);
      if (!g) {
        g = { ref: c.ref, workloads: [], digestTags: new Set() };
        groups.set(repoKey, g);
      }
      if (!g.workloads.includes(p.target.snapshot)) g.workloads.push(p.target.snapshot);
      if (
        p.target.settings.strategy === 'ALL' &&
        c.ref.tag !== undefined &&
        parseTag(c.ref.tag) === undefined
      ) {
        g.digestTags.add(c.ref.tag);
      }
    }
  }

  const creds = new CredentialResolver(deps);
  const limit = pLimit(Math.max(1, deps.concurrency));
  const results = new Map<string, RepoResult>();
  await Promise.all(
    [...groups].map(([repoKey, g]) =>
      limit(async () => {
        results.set(repoKey, await askRepository(g, creds, deps));
      }),
    ),
  );

  return prepared.map((p) => evaluate(p, results, deps));
}

export interface Prepared {
  target: CheckTarget;
  state: ManagedState;
  watched: WatchedContainer[];
  invalid: ContainerStatus[];
}

export function prepare(target: CheckTarget): Prepared {
  const watched: WatchedContainer[] = [];
  const invalid: ContainerStatus[] = [];
  for (const info of watchedContainers(target.snapshot.containers, target.settings)) {
    try {
      watched.push({ info, ref: parseImageReference(info.image) });
    } catch (err) {
      invalid.push({
        name: info.name,
        image: info.image,
        current: '',
        latest: undefined,
        candidate: undefined,
        error: toError(err),
      });
    }
  }
  return { target, state: readManagedState(target.snapshot.annotations), watched, invalid };
}

async function askRepository(
  g: RepoGroup,
  creds: CredentialResolver,
  deps: CheckerDeps,
): Promise<RepoResult> {
  let credentials: RegistryCredentials | undefined;
  // Workloads sharing a repository usually share its secret; the first that has one is used.
  for (const w of g.workloads) {
    credentials = await creds.forWorkload(w, g.ref.registry);
    if (credentials) break;
  }
  const opts = credentials ? { credentials } : {};
  let tags: string[];
  try {
    tags = await deps.registry.listTags(g.ref, opts);
  } catch (err) {
    const error = toError(err);
    deps.logger.warn({ repository: canonicalName(g.ref), err: error }, 'cannot list tags');
    return { ok: false, error };
  }
  const digests = new Map<string, string | { code: string; message: string }>();
  for (const tag of g.digestTags) {
    try {
      digests.set(tag, await deps.registry.getDigest(g.ref, tag, opts));
    } catch (err) {
      digests.set(tag, toError(err));
    }
  }
  return { ok: true, tags, digests };
}

/** The repositories a prepared workload needs, with the non-version tags whose digest is asked. */
export function repositoriesOf(
  p: Prepared,
): { repoKey: string; ref: ImageReference; digestTags: string[] }[] {
  const out = new Map<string, { repoKey: string; ref: ImageReference; digestTags: string[] }>();
  for (const c of p.watched) {
    const repoKey = canonicalName(c.ref);
    let r = out.get(repoKey);
    if (!r) {
      r = { repoKey, ref: c.ref, digestTags: [] };
      out.set(repoKey, r);
    }
    if (
      p.target.settings.strategy === 'ALL' &&
      c.ref.tag !== undefined &&
      parseTag(c.ref.tag) === undefined &&
      !r.digestTags.includes(c.ref.tag)
    ) {
      r.digestTags.push(c.ref.tag);
    }
  }
  return [...out.values()];
}

export function evaluate(
  p: Prepared,
  results: ReadonlyMap<string, RepoResult>,
  deps: Pick<CheckerDeps, 'digestBaselines' | 'digestSightings' | 'pass'> & {
    /** Policy gates; without it the newest allowed candidate is chosen. */
    choose?: CandidateChooser | undefined;
  },
): WorkloadCheck {
  const { target, state, watched } = p;
  const n = watched.length;
  const containers: ContainerStatus[] = [...p.invalid];
  let pending = false;
  for (const w of watched) {
    const { info, ref } = w;
    const status: ContainerStatus = {
      name: info.name,
      image: info.image,
      current: runningVersion(ref),
      latest: undefined,
      candidate: undefined,
      error: undefined,
    };
    containers.push(status);
    const r = results.get(canonicalName(ref));
    if (!r) continue;
    if (!r.ok) {
      status.error = r.error;
      continue;
    }
    const skip = skippedVersions(state, info.name, n);
    const isVersion = ref.tag !== undefined && parseTag(ref.tag) !== undefined;
    let allowed: Candidate[];
    let outside: Candidate | undefined;
    if (isVersion || target.settings.strategy !== 'ALL' || ref.tag === undefined) {
      const input = { container: info, ref, tags: r.tags, settings: target.settings, skip };
      allowed = deps.choose ? tagCandidates(input, MAX_FALLBACK_CANDIDATES) : [];
      if (!deps.choose) {
        const c = tagCandidate(input);
        if (c) allowed.push(c);
      }
      if (target.settings.constraint !== undefined) {
        // The newest the strategy alone allows: when the constraint excludes it, it is held visibly.
        const free = tagCandidate({ ...input, settings: { ...target.settings, constraint: undefined } });
        if (free && !isSameOrOlder(free.newVersion, allowed[0]?.newVersion)) outside = free;
      }
    } else {
      const d = r.digests.get(ref.tag);
      if (d === undefined || typeof d !== 'string') {
        status.error = d ?? { code: 'E_INTERNAL', message: 'digest was not asked' };
        continue;
      }
      const baselineKey = `${target.key}|${info.name}|${info.image}`;
      const known = ref.digest ?? deps.digestBaselines.get(baselineKey) ?? notifiedDigest(state, ref.tag);
      if (known === undefined) deps.digestBaselines.set(baselineKey, d);
      else if (!deps.digestBaselines.has(baselineKey)) deps.digestBaselines.set(baselineKey, known);
      const c = digestSettled(deps, baselineKey, d, known)
        ? digestCandidate({ container: info, ref, registryDigest: d, knownDigest: known, skip })
        : undefined;
      allowed = c ? [c] : [];
    }
    if (deps.choose && allowed.length > 0) {
      const choice = deps.choose({ target, container: w, candidates: allowed });
      if (choice.pending) {
        pending = true;
        continue;
      }
      status.candidate = choice.candidate;
      status.held = choice.held;
    } else status.candidate = allowed[0];
    if (outside) {
      status.held = {
        reason: 'constraint',
        version: outside.newVersion,
        message: `${outside.newVersion} is outside the constraint ${target.settings.constraint?.source ?? ''}`,
      };
    }
    status.latest = status.candidate?.newVersion ?? status.current;
  }
  const error = containers.find((c) => c.error)?.error;
  const candidates = containers.flatMap((c) => (c.candidate ? [c.candidate] : []));
  return {
    key: target.key,
    snapshot: target.snapshot,
    settings: target.settings,
    state,
    watched,
    containers,
    candidates,
    error,
    ...(pending ? { pending } : {}),
  };
}

/** Whether tag `a` is not newer than `b` (both of one shape; undefined `b`: nothing to compare). */
function isSameOrOlder(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  const x = parseTag(a);
  const y = parseTag(b);
  return x !== undefined && y !== undefined && compareTags(x, y) <= 0;
}

/**
 * The digest flap rule: a digest that differs from the known one counts only when the same digest
 * was also seen in the previous pass. Sightings reset when the registry answers the known digest
 * again or another new one.
 */
function digestSettled(
  deps: Pick<CheckerDeps, 'digestSightings' | 'pass'>,
  key: string,
  digest: string,
  known: string | undefined,
): boolean {
  const sightings = deps.digestSightings;
  const pass = deps.pass;
  if (!sightings || pass === undefined) return true;
  if (known === undefined || digest === known) {
    sightings.delete(key);
    return true;
  }
  const prev = sightings.get(key);
  if (prev?.digest !== digest || pass > prev.lastPass + 1) {
    sightings.set(key, { digest, firstPass: pass, lastPass: pass });
    return false;
  }
  if (pass > prev.lastPass) prev.lastPass = pass;
  return prev.lastPass > prev.firstPass;
}

/** A digest we announced for this tag before a restart is the best baseline we have. */
function notifiedDigest(state: ManagedState, tag: string): string | undefined {
  for (const part of (state.lastNotifiedVersion ?? '').split(',')) {
    const value = part.includes('=') ? part.slice(part.indexOf('=') + 1) : part;
    if (value.startsWith(`${tag}@sha256:`)) return value.slice(tag.length + 1);
  }
  return undefined;
}
