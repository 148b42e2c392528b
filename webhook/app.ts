import { isAscii } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { InvalidAdmissionReviewError, parseAdmissionReview } from './admission/parse.ts';
import { reviewAdmission } from './admission/review.ts';
import type { ReviewDeps, ReviewOutcome } from './admission/review.ts';
import { ADMISSION_API_VERSION, ADMISSION_KIND } from './admission/types.ts';
import type { AdmissionReviewResponse } from './admission/types.ts';
import type { ServerLimits } from '../shared/inbound.ts';
import {
  ByteBudget,
  fastifyLimitOptions,
  limitBufferedBodies,
  nodeServerOptions,
} from '../shared/inbound.ts';
import type { WebhookMetrics } from './metrics.ts';
import { LazyLogger } from './lazy-logger.ts';
import { TLS_OPTIONS } from './tls.ts';
import type { KeyPair } from './tls.ts';

/**
 * A body this pattern does not match cannot hold a "__proto__" or "constructor" key: written
 * plainly, such a key holds "_proto_" or "onstructo"; with any of those letters escaped, it holds
 * \u005x to \u007x (every letter and "_" of both keys is in that range). The inner parts, not the
 * quoted keys: irregexp skips through a 20 KB review about twice as fast for them (bench/webhook.ts;
 * the quoted form was 6 % of the webhook's CPU).
 */
export const MAYBE_PROTOTYPE_KEY = /_proto_|onstructo|\\u00[5-7]/;

/** Largest AdmissionReview accepted: an UPDATE carries object and oldObject, each up to the API server's 3 MiB. */
export const BODY_LIMIT = 7 * 1024 * 1024;

/**
 * The admission port. The API server gives a webhook at most timeoutSeconds (default 10 s, max
 * 30 s), so a request not received in 15 s is an attacker or a dead peer. The body budget is what
 * the 256Mi limit can hold on top of the heap (docs/webhook.md, "Limits").
 */
export const WEBHOOK_LIMITS: ServerLimits = {
  connectionTimeoutMs: 30_000,
  requestTimeoutMs: 15_000,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 72_000,
  maxRequestsPerSocket: 1000,
  maxConnections: 256,
  checkIntervalMs: 1_000,
  bodyLimit: BODY_LIMIT,
  bodyBudget: 48 * 1024 * 1024,
};

/** The probe and metrics port: GETs only, a tiny body allowance. */
export const HTTP_LIMITS: ServerLimits = {
  connectionTimeoutMs: 30_000,
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 15_000,
  maxRequestsPerSocket: 1000,
  maxConnections: 64,
  checkIntervalMs: 1_000,
  bodyLimit: 1024,
  bodyBudget: 64 * 1024,
};

export type WebhookServer = FastifyInstance<HttpsServer | HttpServer>;
export type HttpApp = FastifyInstance<HttpServer>;

export interface WebhookAppDeps {
  logger: Logger;
  metrics: WebhookMetrics;
  review: ReviewDeps;
  /** Serving certificate. Only tests that use inject() leave it out (plain HTTP). */
  tls?: KeyPair;
  /** Milliseconds from a monotonic clock; performance.now by default. */
  clock?: () => number;
  /** Overrides of WEBHOOK_LIMITS (tests use short timeouts). */
  limits?: Partial<ServerLimits>;
}

export interface HttpAppDeps {
  logger: Logger;
  metrics: WebhookMetrics;
  /** False before the webhook listens and while it shuts down. */
  isReady: () => boolean;
  /** Overrides of HTTP_LIMITS. */
  limits?: Partial<ServerLimits>;
}

/** Busy: the body budget is spent. The API server retries, or applies failurePolicy. */
function refuseBusy(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .header('retry-after', '1')
    .code(503)
    .send({ error: 'Service Unavailable', message: 'too many request bodies in flight; retry' });
}

/** Caps on sockets and buffered bodies for one server. */
function applyLimits(app: FastifyInstance<HttpsServer | HttpServer>, limits: ServerLimits): void {
  app.server.maxConnections = limits.maxConnections;
  app.server.headersTimeout = nodeServerOptions(limits).headersTimeout;
  limitBufferedBodies(app, {
    budget: new ByteBudget(limits.bodyBudget),
    bodyLimit: limits.bodyLimit,
    refuse: refuseBusy,
  });
}

function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ error: STATUS_CODES[status] ?? 'Error', message });
}

/** 4xx with `{ error, message }`; anything else is a bug, logged, and answered without detail. */
function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = err.statusCode ?? 500;
  if (status === 413) {
    return sendError(reply, 413, `the request body is larger than ${BODY_LIMIT} bytes (7 MiB)`);
  }
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    request.log.warn({ code: err.code }, 'body is not JSON');
    return sendError(
      reply,
      400,
      `the body is not valid JSON; expected an ${ADMISSION_API_VERSION} ${ADMISSION_KIND}`,
    );
  }
  if (status >= 400 && status < 500) {
    request.log.warn({ code: err.code, message: err.message }, 'bad request');
    return sendError(reply, status, err.message);
  }
  request.log.error({ err }, 'unexpected error');
  return sendError(reply, 500, 'internal error; see the webhook log');
}

function logOutcome(log: FastifyBaseLogger, o: ReviewOutcome, request: Record<string, unknown>): void {
  // Routine stamping logs at DEBUG: when that is off (the default), skip building the line.
  const routine =
    o.result !== 'error' && o.result !== 'denied' && !(o.response.response.warnings?.length ?? 0);
  if (routine && log.level !== 'debug' && log.level !== 'trace') return;
  // Who did what and why; never annotation values (token-update is a secret) nor the patch.
  const fields = {
    uid: o.response.response.uid,
    operation: o.operation,
    kind: o.kind,
    namespace: request.namespace,
    name: request.name,
    user: (request.userInfo as { username?: unknown } | undefined)?.username,
    dryRun: request.dryRun === true,
    result: o.result,
    reason: o.reason,
    warnings: o.response.response.warnings?.length ?? 0,
  };
  if (o.result === 'error') {
    log.error({ ...fields, err: o.error }, 'admission review failed; allowed unchanged');
  } else if (o.result === 'denied' || fields.warnings > 0) {
    // A user was told no or overruled (restored annotations): worth INFO. Routine stamping is DEBUG.
    log.info(fields, 'admission reviewed');
  } else {
    log.debug(fields, 'admission reviewed');
  }
}

/**
 * The HTTPS admission server: `POST /mutate` (AdmissionReview in and out) and `GET /healthz`.
 * Any body is parsed as JSON whatever its content type, so garbage gets a 400, not a 415.
 */
export function buildWebhookApp(deps: WebhookAppDeps): WebhookServer {
  const clock = deps.clock ?? (() => performance.now());
  const limits = { ...WEBHOOK_LIMITS, ...deps.limits };
  const app = Fastify({
    loggerInstance: LazyLogger.over(deps.logger),
    logController: new LogController({ disableRequestLogging: true }),
    ...fastifyLimitOptions(limits),
    http: nodeServerOptions(limits),
    ...(deps.tls !== undefined
      ? { https: { ...TLS_OPTIONS, ...nodeServerOptions(limits), cert: deps.tls.cert, key: deps.tls.key } }
      : {}),
  }) as unknown as WebhookServer;
  applyLimits(app, limits);

  app.removeAllContentTypeParsers();
  const secure = app.getDefaultJsonParser('remove', 'remove');
  const json = (request: FastifyRequest, raw: Buffer, done: (err: Error | null, body?: unknown) => void) => {
    // Nearly every review is ASCII, which decodes as latin1 (a copy); UTF-8 decoding costs more.
    const body = isAscii(raw) ? raw.toString('latin1') : raw.toString('utf8');
    // fastify's parser scans every body with two regexes for "__proto__"/"constructor" keys.
    // One pass of a looser pattern clears almost every review; anything it matches, and invalid
    // JSON (for fastify's error), goes the safe way. The default parser is synchronous (it calls
    // done); its typing also allows a promise.
    if (MAYBE_PROTOTYPE_KEY.test(body)) {
      void secure(request, body, done);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      void secure(request, body, done);
      return;
    }
    done(null, parsed);
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, json);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, json);
  app.setErrorHandler(errorHandler);

  app.get('/healthz', () => ({ status: 'ok' }));

  app.post('/mutate', (request, reply) => {
    const started = clock();
    let review;
    try {
      review = parseAdmissionReview(request.body);
    } catch (caught) {
      // A 10k-deep apiVersion overflows the stack while it is described: still the sender's fault.
      const err =
        caught instanceof RangeError
          ? new InvalidAdmissionReviewError('the AdmissionReview is nested too deeply')
          : caught;
      if (!(err instanceof InvalidAdmissionReviewError)) throw err;
      deps.metrics.observeAdmission({
        operation: 'UNKNOWN',
        kind: 'other',
        result: 'error',
        seconds: (clock() - started) / 1000,
      });
      request.log.warn({ message: err.message }, 'not an AdmissionReview');
      return sendError(reply, 400, err.message);
    }
    let response: AdmissionReviewResponse;
    try {
      const outcome = reviewAdmission(review, deps.review);
      response = outcome.response;
      deps.metrics.observeAdmission({
        operation: outcome.operation,
        kind: outcome.kind,
        result: outcome.result,
        seconds: (clock() - started) / 1000,
      });
      logOutcome(request.log, outcome, review.request as unknown as Record<string, unknown>);
    } catch (err) {
      // reviewAdmission never throws; this guards the metrics and logging around it.
      request.log.error({ err, uid: review.request.uid }, 'admission handling failed; allowed unchanged');
      response = {
        apiVersion: ADMISSION_API_VERSION,
        kind: ADMISSION_KIND,
        response: {
          uid: review.request.uid,
          allowed: true,
          warnings: [
            'image-watcher could not review this request (internal error); it was allowed unchanged',
          ],
        },
      };
    }
    return reply.send(response);
  });
  return app;
}

/** Plain HTTP for the kubelet and Prometheus: `/healthz`, `/readyz`, `/metrics`. */
export function buildHttpApp(deps: HttpAppDeps): HttpApp {
  const limits = { ...HTTP_LIMITS, ...deps.limits };
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    ...fastifyLimitOptions(limits),
    http: nodeServerOptions(limits),
  });
  applyLimits(app as unknown as HttpApp, limits);
  app.setErrorHandler(errorHandler);
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', (_request, reply) =>
    deps.isReady() ? reply.send({ status: 'ready' }) : reply.code(503).send({ status: 'not ready' }),
  );
  app.get('/metrics', async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });
  return app as unknown as HttpApp;
}
