// The approval page, served by the watcher: GET shows what a signed link would do, POST does it.
//
// Why this is safe to expose:
// - The signed link is the only authority (no cookies or sessions grant anything): it names one
//   workload and one version and expires. Signatures are compared in constant time.
// - GET never changes anything, so link scanners in mail and chat cannot trigger an update.
// - POST must carry the signed parameters again, plus a form token bound to the link and to a
//   per-render nonce held in a SameSite=Strict, HttpOnly cookie (double submit): only a page we
//   rendered can post. Requests that a browser marks as cross-site (Sec-Fetch-Site, Origin) are
//   refused outright.
// - Responses forbid framing, scripts, external loads, caching and referrers.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError } from '../../shared/env.ts';
import { compareTags, parseTag, sameShape } from '../../shared/version.ts';
import type { WorkloadKind } from '../kube/types.ts';
import { approvalPath, verifyApproval, type ApprovalTarget } from './links.ts';
import { CONTENT_SECURITY_POLICY, renderApprovalPage, renderMessagePage, renderRefusedPage } from './page.ts';
import type { HeldView } from './page.ts';

export interface ApprovalInfo {
  workload: { kind: WorkloadKind; namespace: string; name: string };
  containers: string[];
  images: string[];
  /** The version running now (of the container the link is about). */
  currentVersion: string;
  /** Newest allowed version now, shown when it is newer than the link's. */
  newestVersion?: string;
  /** `image-watcher/last-updated` now; a link made before a later update is out of date. */
  lastUpdated?: string;
  /** Versions of this container that failed or were reverted (`last-failed-version`). */
  failedVersions?: string[];
  releaseNotes?: { url?: string; summary?: string; excerpt?: string };
  /** A newer version waits for a policy rule (a window, the release age...): why and until when. */
  held?: HeldView;
  /** Who signed the proposed version, when signature verification is on and it verified. */
  signedBy?: string;
}

export interface UpdateOutcome {
  ok: boolean;
  /** Shown to the person who clicked: say what happened and what to do next. */
  message: string;
}

export interface ApprovalDeps {
  /** APPROVAL_SECRET: signs links and form tokens. At least 16 characters. */
  secret: string;
  /** PUBLIC_URL: the watcher as browsers reach it, e.g. https://image-watcher.example.com/base */
  publicUrl: string;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** The workload as it is now; `version` is the link's, for release notes. Undefined: not watched. */
  lookup(
    namespace: string,
    kind: WorkloadKind,
    name: string,
    version: string,
  ): Promise<ApprovalInfo | undefined> | ApprovalInfo | undefined;
  update(namespace: string, kind: WorkloadKind, name: string, version: string): Promise<UpdateOutcome>;
  /** True when `current` already is `proposed` or newer; default compares parsed tags. */
  isCurrent?: (current: string, proposed: string) => boolean;
}

const FORM_LIMIT = 8 * 1024;
const NONCE_MAX_AGE_S = 3600;

/** Equal, or both versions of the same shape and current not older. */
export function isAtOrAbove(current: string, proposed: string): boolean {
  if (current === proposed) return true;
  const a = parseTag(current);
  const b = parseTag(proposed);
  return a !== undefined && b !== undefined && sameShape(a, b) && compareTags(a, b) >= 0;
}

function validateDeps(deps: ApprovalDeps): { basePath: string; secure: boolean } {
  if (typeof deps.secret !== 'string' || deps.secret.length < 16) {
    throw new ConfigError(
      'APPROVAL_SECRET',
      'APPROVAL_SECRET must be at least 16 characters (use a random value)',
    );
  }
  let url: URL;
  try {
    url = new URL(deps.publicUrl);
  } catch {
    throw new ConfigError(
      'PUBLIC_URL',
      `PUBLIC_URL=${JSON.stringify(deps.publicUrl)} is not an absolute URL`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError('PUBLIC_URL', 'PUBLIC_URL must start with https:// or http://');
  }
  return { basePath: url.pathname.replace(/\/+$/, ''), secure: url.protocol === 'https:' };
}

function hmac(secret: string, data: string): string {
  return createHmac('sha256', secret).update(data).digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** One cookie per link, so two approval tabs do not invalidate each other. */
function cookieName(sig: string): string {
  return `iw_approve_${createHash('sha256').update(sig).digest('hex').slice(0, 12)}`;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function formToken(secret: string, sig: string, nonce: string): string {
  return hmac(secret, `csrf|${sig}|${nonce}`);
}

interface RouteParams {
  namespace: string;
  kind: string;
  name: string;
}

function send(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .send(html);
}

/** Browsers tell us where a request came from; anything they mark as another site is refused. */
function crossSite(req: FastifyRequest, publicOrigin: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  // Browsers send `Origin: null` on our own form posts because of Referrer-Policy: no-referrer;
  // then Sec-Fetch-Site and the SameSite=Strict form cookie decide.
  if (typeof origin !== 'string' || origin === 'null') return false;
  const host = req.headers.host;
  const own = host ? [`http://${host}`, `https://${host}`] : [];
  return origin !== publicOrigin && !own.includes(origin);
}

const STRIP_QUERY = {
  // The query holds the link signature: keep it out of request logs.
  req: (req: FastifyRequest) => ({ method: req.method, url: req.url.split('?')[0] }),
};

function registerApproval(app: FastifyInstance, deps: ApprovalDeps): void {
  const { basePath, secure } = validateDeps(deps);
  const publicOrigin = new URL(deps.publicUrl).origin;
  const isCurrent = deps.isCurrent ?? isAtOrAbove;
  const inFlight = new Set<string>();

  // Encapsulated: this parser and error handler apply to the approval routes only.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT },
    (_req, body, done) => {
      done(
        null,
        Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))),
      );
    },
  );
  app.setErrorHandler((err: { statusCode?: number }, req, reply) => {
    req.log.warn({ err }, 'approval request failed');
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return send(
      reply,
      status,
      renderMessagePage({
        title: status < 500 ? 'This request cannot be handled' : 'Something went wrong',
        message:
          status < 500
            ? 'Open the approval link again exactly as it was sent to you.'
            : 'The approval page failed. Try again in a minute; if it keeps failing, check the watcher logs.',
        tone: 'bad',
      }),
    );
  });

  const refuse = (reply: FastifyReply, reason: 'expired' | 'invalid'): FastifyReply =>
    send(reply, 403, renderRefusedPage(reason));

  const notFound = (reply: FastifyReply, t: ApprovalTarget): FastifyReply =>
    send(
      reply,
      404,
      renderMessagePage({
        title: 'Workload not found',
        message:
          'This workload no longer exists or is no longer watched by image-watcher, so there is nothing to update.',
        tone: 'bad',
        workload: t,
      }),
    );

  const alreadyCurrent = (reply: FastifyReply, t: ApprovalTarget, current: string): FastifyReply =>
    send(
      reply,
      200,
      renderMessagePage({
        title: 'Already up to date',
        message: `${t.name} already runs ${current}, which is the same as or newer than ${t.version}. Nothing was changed.`,
        tone: 'info',
        workload: t,
        rows: [['Current version', current]],
      }),
    );

  /** 409: the link no longer applies (a revert, a failed version, any change since it was made). */
  const outdated = (reply: FastifyReply, t: ApprovalTarget, info: ApprovalInfo): FastifyReply | undefined => {
    if (info.failedVersions?.includes(t.version)) {
      return send(
        reply,
        409,
        renderMessagePage({
          title: 'This version was rolled back',
          message: `${t.version} failed or was reverted on ${t.name} (image-watcher/last-failed-version), so this link no longer applies. Nothing was changed.`,
          tone: 'bad',
          workload: t,
          rows: [['Current version', info.currentVersion]],
        }),
      );
    }
    if (info.currentVersion !== t.from || (info.lastUpdated ?? '') !== t.stamp) {
      return send(
        reply,
        409,
        renderMessagePage({
          title: 'This link is out of date',
          message: `${t.name} changed since this link was sent (it ran ${t.from} then and runs ${info.currentVersion} now, or was updated or reverted meanwhile). Nothing was changed; use the link of a newer notice.`,
          tone: 'bad',
          workload: t,
          rows: [
            ['Version when the link was sent', t.from],
            ['Current version', info.currentVersion],
          ],
        }),
      );
    }
    return undefined;
  };

  const routeOpts = { logSerializers: STRIP_QUERY };

  app.get<{ Params: RouteParams; Querystring: Record<string, unknown> }>(
    '/approve/:namespace/:kind/:name',
    routeOpts,
    async (req, reply) => {
      const check = verifyApproval(deps.secret, req.params, req.query, deps.now());
      if (!check.ok) return refuse(reply, check.reason);
      const t = check.target;
      const info = await deps.lookup(t.namespace, t.kind, t.name, t.version);
      if (!info) return notFound(reply, t);
      if (isCurrent(info.currentVersion, t.version)) return alreadyCurrent(reply, t, info.currentVersion);
      const stale = outdated(reply, t, info);
      if (stale) return stale;

      const sig = String(req.query.sig);
      const nonce = randomBytes(18).toString('base64url');
      const cookie = [
        `${cookieName(sig)}=${nonce}`,
        `Path=${basePath}/approve/`,
        `Max-Age=${NONCE_MAX_AGE_S}`,
        'HttpOnly',
        'SameSite=Strict',
        ...(secure ? ['Secure'] : []),
      ].join('; ');
      reply.header('set-cookie', cookie);
      return send(
        reply,
        200,
        renderApprovalPage({
          workload: info.workload,
          containers: info.containers,
          images: info.images,
          currentVersion: info.currentVersion,
          proposedVersion: t.version,
          ...(info.newestVersion ? { newestVersion: info.newestVersion } : {}),
          ...(info.releaseNotes ? { releaseNotes: info.releaseNotes } : {}),
          ...(info.held ? { held: info.held } : {}),
          ...(info.signedBy ? { signedBy: info.signedBy } : {}),
          expiresAt: check.expiresAt,
          form: {
            action: `${basePath}${approvalPath(t)}`,
            fields: {
              v: t.version,
              f: t.from,
              u: t.stamp,
              exp: String(check.expiresAt),
              sig,
              csrf: formToken(deps.secret, sig, nonce),
            },
          },
        }),
      );
    },
  );

  app.post<{ Params: RouteParams; Body: Record<string, unknown> | undefined }>(
    '/approve/:namespace/:kind/:name',
    routeOpts,
    async (req, reply) => {
      if (crossSite(req, publicOrigin)) return refuse(reply, 'invalid');
      const body = req.body ?? {};
      const check = verifyApproval(deps.secret, req.params, body, deps.now());
      if (!check.ok) return refuse(reply, check.reason);
      const t = check.target;
      const sig = String(body.sig);
      const nonce = readCookie(req.headers.cookie, cookieName(sig));
      const csrf = typeof body.csrf === 'string' ? body.csrf : '';
      if (!nonce || !safeEqual(csrf, formToken(deps.secret, sig, nonce))) {
        return send(
          reply,
          403,
          renderMessagePage({
            title: 'Please confirm again',
            message:
              'This form is no longer valid (it was opened too long ago or from another browser). Open the approval link again and press "Update now".',
            tone: 'bad',
            workload: t,
          }),
        );
      }

      const info = await deps.lookup(t.namespace, t.kind, t.name, t.version);
      if (!info) return notFound(reply, t);
      if (isCurrent(info.currentVersion, t.version)) return alreadyCurrent(reply, t, info.currentVersion);
      // A saved form replayed after a revert: the state it was made for is gone.
      const stale = outdated(reply, t, info);
      if (stale) return stale;

      const key = `${t.namespace}/${t.kind}/${t.name}`;
      if (inFlight.has(key)) {
        return send(
          reply,
          409,
          renderMessagePage({
            title: 'An update is already running',
            message:
              'Another update of this workload is in progress. Reload this link in a minute to see the result.',
            tone: 'info',
            workload: t,
          }),
        );
      }
      inFlight.add(key);
      let outcome: UpdateOutcome;
      try {
        outcome = await deps.update(t.namespace, t.kind, t.name, t.version);
      } catch (err) {
        req.log.error({ err, workload: key, version: t.version }, 'approved update failed');
        outcome = {
          ok: false,
          message: 'The update could not be applied. Check the watcher logs, then try again.',
        };
      } finally {
        inFlight.delete(key);
      }
      req.log.info({ workload: key, version: t.version, ok: outcome.ok }, 'approved update');
      return send(
        reply,
        outcome.ok ? 200 : 502,
        renderMessagePage({
          title: outcome.ok ? `Updating to ${t.version}` : 'The update failed',
          message: outcome.message,
          tone: outcome.ok ? 'ok' : 'bad',
          workload: t,
          rows: [
            ['Previous version', info.currentVersion],
            ['Requested version', t.version],
          ],
        }),
      );
    },
  );
}

/** Register with `app.register(approvalPlugin, deps)`; invalid deps fail the registration. */
export const approvalPlugin: FastifyPluginAsync<ApprovalDeps> = (app, deps) =>
  Promise.resolve().then(() => registerApproval(app, deps));
