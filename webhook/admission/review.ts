import type { AnnotationProblem, WatchSettings } from '../../shared/annotations.ts';
import {
  ANNOTATIONS,
  MANAGED_KEYS,
  encodeVersions,
  formatProblems,
  parseWatchSettings,
  managedVersion,
} from '../../shared/annotations.ts';
import { parseImageReference } from '../../shared/image-ref.ts';
import { escapeControls, showText } from '../../shared/show.ts';
import { annotationPatch, encodePatch } from './patch.ts';
import type { ParseSettings } from './settings-cache.ts';
import { ADMISSION_API_VERSION, ADMISSION_KIND } from './types.ts';
import type {
  AdmissionResponse,
  AdmissionResult,
  AdmissionReviewRequest,
  AdmissionReviewResponse,
  KubeObject,
} from './types.ts';
import { containersOf, workloadKindOf } from './workload.ts';
import type { WorkloadContainer, WorkloadKind } from './workload.ts';

export interface ReviewDeps {
  /** Usernames whose UPDATEs pass unchanged: the watcher's service account(s). */
  watcherUsernames: readonly string[];
  /** A fresh secret for `image-watcher/token-update` (32 random bytes, base64url). */
  randomToken: () => string;
  /** parseWatchSettings or a memoised equivalent (see settings-cache.ts). */
  parseSettings?: ParseSettings;
  /** imageVersion or a memoised equivalent (cachedImageVersion). */
  imageVersion?: (image: string) => ImageVersion;
}

export interface ReviewOutcome {
  response: AdmissionReviewResponse;
  result: AdmissionResult;
  /** Bounded metric labels: a handled workload kind or 'other'; a known operation or 'UNKNOWN'. */
  kind: WorkloadKind | 'other';
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT' | 'UNKNOWN';
  /** Why the webhook decided so, for the log line (never contains annotation values). */
  reason: string;
  /** Set when result is 'error': the exception, for the log. */
  error?: unknown;
}

/** 32 random bytes in base64url are 43 characters; shorter values are not ours and too weak. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43,128}$/;
const NO_WARNINGS: readonly string[] = Object.freeze([]);
/** Kubernetes may truncate longer warnings. */
const MAX_WARNING = 240;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Warnings may quote user text (container names, images): cut, then control characters escaped. */
function warning(text: string): string {
  return escapeControls(text.length > MAX_WARNING ? `${text.slice(0, MAX_WARNING - 1)}…` : text);
}

function operationOf(value: unknown): ReviewOutcome['operation'] {
  return value === 'CREATE' || value === 'UPDATE' || value === 'DELETE' || value === 'CONNECT'
    ? value
    : 'UNKNOWN';
}

/**
 * The object's annotations: `{}` when absent, undefined when the object is malformed (metadata or
 * annotations of the wrong type, a non-string value). The API server rejects malformed objects
 * after admission, so the webhook lets them through untouched rather than guess. The map itself
 * is returned, not a copy: the review only reads it (the one copy it changes is `desired`).
 */
function annotationsOf(object: unknown): Readonly<Record<string, string>> | undefined {
  if (!isRecord(object)) return undefined;
  const metadata = object.metadata;
  if (metadata === undefined || metadata === null) return {};
  if (!isRecord(metadata)) return undefined;
  const annotations = metadata.annotations;
  if (annotations === undefined || annotations === null) return {};
  if (!isRecord(annotations)) return undefined;
  // for-in, not Object.keys: no array of keys on every review (a JSON object inherits nothing).
  for (const key in annotations) if (typeof annotations[key] !== 'string') return undefined;
  return annotations as Record<string, string>;
}

export interface ImageVersion {
  /** The tag, else the digest; undefined when the reference has neither. */
  version?: string;
  /** Why the reference cannot be parsed. */
  error?: string;
}

/** parseImageReference reduced to what stamping needs. */
export function imageVersion(image: string): ImageVersion {
  try {
    const version = managedVersion(parseImageReference(image));
    return version !== undefined ? { version } : {};
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** Longest image reference memoised, and how many are kept (a cluster runs a bounded set of images). */
const MAX_MEMO_IMAGE_LENGTH = 512;
const MAX_MEMO_IMAGES = 1000;

/**
 * imageVersion with a bounded memo, one per webhook (ReviewDeps): every review parses every
 * container image, and the same few images come back over and over. The result depends on the
 * string alone, so the memo cannot change an answer; it is dropped wholesale when full.
 */
export function cachedImageVersion(maxEntries = MAX_MEMO_IMAGES): (image: string) => ImageVersion {
  const memo = new Map<string, ImageVersion>();
  return (image) => {
    const hit = memo.get(image);
    if (hit !== undefined) return hit;
    const result = imageVersion(image);
    if (image.length <= MAX_MEMO_IMAGE_LENGTH) {
      if (memo.size >= maxEntries) memo.clear();
      memo.set(image, result);
    }
    return result;
  };
}

/**
 * `current-version`: the tag of the watched container (the digest for digest-only images); for
 * several watched containers `name=tag,...` in the shared encoding. Undefined when nothing readable.
 */
export function currentVersionOf(
  containers: readonly WorkloadContainer[],
  settings: Pick<WatchSettings, 'containers'>,
  warnings: string[],
  versionOf: (image: string) => ImageVersion = imageVersion,
): string | undefined {
  const selected = settings.containers;
  // A Set: both lists are user-sized (tens of thousands of containers named in the annotation).
  const wanted = selected === undefined ? undefined : new Set(selected);
  const watched = wanted === undefined ? containers : containers.filter((c) => wanted.has(c.name));
  const versions: Record<string, string> = {};
  for (const c of watched) {
    const parsed = versionOf(c.image);
    if (parsed.error !== undefined) {
      warnings.push(
        warning(`image-watcher cannot watch container ${showText(c.name, 64, false)}: ${parsed.error}`),
      );
    } else if (parsed.version !== undefined) {
      versions[c.name] = parsed.version;
    }
  }
  // One container: the plain tag; several: `name=tag,...` sorted, so stamping is idempotent.
  return Object.keys(versions).length === 0 ? undefined : encodeVersions(versions);
}

/*
 * Responses, outcomes and the desired annotations are built field by field, never as `{ ...x, y }`
 * or a spread copy given more keys later: Node 20's V8 promotes such objects to the old generation
 * at the next scavenge (measured: ~175 KB per scavenge at 1,500 reviews/s), and that garbage drove
 * mark-compact pauses into the p99 of bench/webhook.ts. Node 24 does not; Node 20 is supported.
 */
function respond(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

function allowedResponse(uid: string, warnings: readonly string[], patch?: string): AdmissionReviewResponse {
  const response: AdmissionResponse = { uid, allowed: true };
  if (warnings.length > 0) response.warnings = warnings.slice();
  if (patch !== undefined) {
    response.patchType = 'JSONPatch';
    response.patch = patch;
  }
  return respond(response);
}

type OutcomeLabels = Pick<ReviewOutcome, 'kind' | 'operation'>;

function outcome(
  labels: OutcomeLabels,
  response: AdmissionReviewResponse,
  result: AdmissionResult,
  reason: string,
): ReviewOutcome {
  return { kind: labels.kind, operation: labels.operation, response, result, reason };
}

/**
 * Restores managed annotations a requester other than the watcher changed, removed or added.
 * A missing current-version or token-update is left to the stamping step, which fills it in.
 */
function protectManaged(
  desired: Record<string, string>,
  old: Readonly<Record<string, string>>,
  warnings: string[],
): void {
  for (const key of MANAGED_KEYS) {
    const before = old[key];
    if (before !== undefined) {
      if (desired[key] !== before) {
        desired[key] = before;
        warnings.push(warning(`image-watcher restored managed annotation ${key} (managed by the watcher)`));
      }
    } else if (
      Object.hasOwn(desired, key) &&
      key !== ANNOTATIONS.currentVersion &&
      key !== ANNOTATIONS.tokenUpdate
    ) {
      delete desired[key];
      warnings.push(warning(`image-watcher removed managed annotation ${key} (managed by the watcher)`));
    }
  }
}

/**
 * A rollout record describes a watcher update in flight on an existing object. On a new object (a
 * restore from backup, a re-create by GitOps, a hand-written one) it is stale or forged, and a
 * watcher resuming it could roll back a workload nobody updated. Other managed keys are kept on
 * CREATE: a restored object keeps its history.
 */
function dropRolloutRecord(desired: Record<string, string>, warnings: string[]): void {
  const key = ANNOTATIONS.rollout;
  if (!Object.hasOwn(desired, key)) return;
  delete desired[key];
  warnings.push(warning(`image-watcher removed ${key}: a new object has no update in progress`));
}

/**
 * Fills in current-version and token-update where `stampable` says so. Deterministic apart from
 * the token, which is only generated when missing or malformed: sending the patched object again
 * yields no further change (safe under reinvocationPolicy: IfNeeded).
 */
function stamp(
  desired: Record<string, string>,
  currentVersion: string | undefined,
  stampable: { currentVersion: 'if-missing' | 'always' | 'never'; token: boolean },
  randomToken: () => string,
  warnings: string[],
): void {
  const cvKey = ANNOTATIONS.currentVersion;
  if (currentVersion !== undefined) {
    if (
      stampable.currentVersion === 'always' ||
      (stampable.currentVersion === 'if-missing' && !Object.hasOwn(desired, cvKey))
    ) {
      desired[cvKey] = currentVersion;
    }
  } else if (stampable.currentVersion === 'always' && Object.hasOwn(desired, cvKey)) {
    // Nothing readable to record, and a requester-written value would mislead the watcher.
    delete desired[cvKey];
  }
  const tokenKey = ANNOTATIONS.tokenUpdate;
  const token = desired[tokenKey];
  if (stampable.token && (token === undefined || !TOKEN_PATTERN.test(token))) {
    if (token !== undefined) {
      warnings.push(warning(`image-watcher replaced ${tokenKey}: it must be 32 random bytes in base64url`));
    }
    desired[tokenKey] = randomToken();
  }
}

function reviewUnsafe(review: AdmissionReviewRequest, deps: ReviewDeps): ReviewOutcome {
  const req = review.request;
  const uid = req.uid;
  const operation = operationOf(req.operation);
  const kind = workloadKindOf(req.kind);
  const labels: OutcomeLabels = { kind: kind ?? 'other', operation };
  const allow = (reason: string, warnings: readonly string[] = NO_WARNINGS): ReviewOutcome =>
    outcome(labels, allowedResponse(uid, warnings), 'allowed', reason);

  if (kind === undefined) return allow('kind not handled');
  if (typeof req.subResource === 'string' && req.subResource !== '') return allow('subresource not handled');
  if (operation !== 'CREATE' && operation !== 'UPDATE') return allow('operation not reviewed');
  const object = req.object;
  const annotations = annotationsOf(object);
  if (annotations === undefined) return allow('object or its annotations malformed; left to API validation');
  const username = req.userInfo?.username;
  if (operation === 'UPDATE' && typeof username === 'string' && deps.watcherUsernames.includes(username)) {
    return allow('update by the watcher');
  }

  const containers = containersOf(kind, object);
  const parseSettings = deps.parseSettings ?? parseWatchSettings;
  const parsed = parseSettings(annotations, { containerNames: containers.map((c) => c.name) });
  if (!parsed.ok) return deny(uid, labels, parsed.problems);

  const warnings: string[] = [];
  const desired = Object.assign({}, annotations); // not a spread: see respond()
  const currentVersion = currentVersionOf(containers, parsed.settings, warnings, deps.imageVersion);
  if (operation === 'CREATE') {
    dropRolloutRecord(desired, warnings);
    stamp(desired, currentVersion, { currentVersion: 'if-missing', token: true }, deps.randomToken, warnings);
  } else {
    const old = annotationsOf(req.oldObject);
    if (old === undefined) {
      // No readable oldObject (the API server always sends one on UPDATE): nothing to restore from,
      // so the managed annotations the request carries are kept, not stripped or overwritten.
      stamp(
        desired,
        currentVersion,
        { currentVersion: 'if-missing', token: true },
        deps.randomToken,
        warnings,
      );
    } else {
      protectManaged(desired, old, warnings);
      // Workloads created before the webhook ran get their stamps on their first update.
      stamp(
        desired,
        currentVersion,
        {
          currentVersion: Object.hasOwn(old, ANNOTATIONS.currentVersion) ? 'never' : 'always',
          token: !Object.hasOwn(old, ANNOTATIONS.tokenUpdate),
        },
        deps.randomToken,
        warnings,
      );
    }
  }

  const ops = annotationPatch(object as KubeObject, desired);
  if (ops.length === 0) return allow('nothing to change', warnings);
  return outcome(
    labels,
    allowedResponse(uid, warnings, encodePatch(ops)),
    'mutated',
    `patched ${ops.length} annotation operation(s)`,
  );
}

function deny(uid: string, labels: OutcomeLabels, problems: readonly AnnotationProblem[]): ReviewOutcome {
  return outcome(
    labels,
    // 400 BadRequest: the request is wrong, not forbidden; kubectl prints the message as is.
    respond({
      uid,
      allowed: false,
      status: { code: 400, reason: 'BadRequest', message: formatProblems(problems) },
    }),
    'denied',
    invalidReason(problems),
  );
}

/** The log's reason for a denial: the keys, bounded (a key may be megabytes, and there may be thousands). */
function invalidReason(problems: readonly AnnotationProblem[]): string {
  const keys = problems.slice(0, 10).map((p) => showText(p.key, 80, false));
  const more = problems.length > keys.length ? ` and ${problems.length - keys.length} more` : '';
  return `invalid annotations: ${keys.join(', ')}${more}`;
}

/**
 * Pure admission decision: validates image-watcher annotations, stamps current-version and
 * token-update on CREATE, protects managed annotations on UPDATE. Never throws: an internal error
 * allows the request unchanged with a warning, because the webhook must not block deploys.
 */
export function reviewAdmission(review: AdmissionReviewRequest, deps: ReviewDeps): ReviewOutcome {
  try {
    return reviewUnsafe(review, deps);
  } catch (error) {
    return {
      kind: workloadKindOf(review.request.kind) ?? 'other',
      operation: operationOf(review.request.operation),
      response: allowedResponse(review.request.uid, [
        'image-watcher could not review this request (internal error); it was allowed unchanged',
      ]),
      result: 'error',
      reason: 'internal error',
      error,
    };
  }
}
