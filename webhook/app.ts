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
import type { WebhookMetrics } from './metrics.ts';
import type { KeyPair } from './tls.ts';

/**
 * A body this pattern does not match cannot hold a "__proto__" or "constructor" key: written
 * plainly, such a key matches the first branch; with any letter escaped, it holds \u005x to \u007x.
 */
const MAYBE_PROTOTYPE_KEY = /"(?:__proto__|constructor)"|\\u00[5-7]/;

/** Largest AdmissionReview accepted: an UPDATE carries object and oldObject, each up to the API server's 3 MiB. */
export const BODY_LIMIT = 7 * 1024 * 1024;

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
}

export interface HttpAppDeps {
  logger: Logger;
  metrics: WebhookMetrics;
  /** False before the webhook listens and while it shuts down. */
  isReady: () => boolean;
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
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    ...(deps.tls !== undefined ? { https: { cert: deps.tls.cert, key: deps.tls.key } } : {}),
  }) as unknown as WebhookServer;

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
    } catch (err) {
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
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
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
