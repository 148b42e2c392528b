// The registry push receivers: POST /api/v1/webhooks/{source}, one route per source with its
// own JSON schema. Every source is authenticated with REGISTRY_WEBHOOK_TOKEN (sources.ts,
// SOURCE_AUTH): compared in constant time, a failure is a bare 401. A per-source token bucket
// answers floods with 429 before any body is read; bodies are capped (RECEIVER_BODY_LIMIT).
import { createHmac, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerLimits } from '../../shared/inbound.ts';
import {
  ByteBudget,
  fastifyLimitOptions,
  limitBufferedBodies,
  nodeServerOptions,
} from '../../shared/inbound.ts';
import { bearerToken, tokensMatch } from '../http/access.ts';
import { WATCHER_LIMITS } from '../http/limits.ts';
import { TokenBucket } from '../registry/rate-limit.ts';
import type { PayloadHeaders, Source } from './sources.ts';
import { PushPayloadError, SCHEMAS, SOURCES, SOURCE_AUTH, parsePayload } from './sources.ts';
import type { EventResult, PushTrigger } from './trigger.ts';

/** Largest body of one event delivery: GitHub's package payloads carry the whole repository. */
export const RECEIVER_BODY_LIMIT = 64 * 1024;

/** Limits of the receiver's own port (RECEIVER_PORT): the watcher's, with the larger body cap. */
export const RECEIVER_LIMITS: ServerLimits = {
  ...WATCHER_LIMITS,
  connectionTimeoutMs: 30_000,
  bodyLimit: RECEIVER_BODY_LIMIT,
  bodyBudget: 2 * 1024 * 1024,
};

export interface ReceiverOptions {
  /** REGISTRY_WEBHOOK_TOKEN (bearer token, URL token and HMAC secret). */
  token: string;
  trigger: Pick<PushTrigger, 'receive'>;
  /** Only the leader acts; the others answer 503 so the sender retries (another replica). */
  isLeader: () => boolean;
  observe: (source: Source, result: EventResult) => void;
  now?: () => number;
  /** Requests per second per source (sustained; the burst is 5 times that). Default 20. */
  ratePerSecond?: number;
}

const JSON_TYPE =
  /^application\/([\w.+-]*\+)?json\s*(;|$)|^application\/vnd\.docker\.distribution\.events\.v1\+json/i;
const SIGNATURE = /^sha256=([a-f0-9]{64})$/i;

/** Request lines of the receivers are not logged: url-token sources carry the token in the URL. */
export function isReceiverRequest(req: { url?: string | undefined }): boolean {
  return (req.url ?? '').toLowerCase().startsWith('/api/v1/webhooks');
}

/** Raw bodies, for the HMAC of signed sources. */
const rawBodies = new WeakMap<FastifyRequest, string>();

function unauthorized(reply: FastifyReply): FastifyReply {
  return reply.code(401).send({ error: 'unauthorized' });
}

/** The token the request carries by its source's rule (never the HMAC: that needs the body). */
function presented(source: Source, req: FastifyRequest): string | undefined {
  if (SOURCE_AUTH[source] === 'url-token') {
    const token = (req.query as { token?: unknown } | undefined)?.token;
    return typeof token === 'string' ? token : undefined;
  }
  const bearer = bearerToken(req.headers.authorization);
  if (bearer !== undefined) return bearer;
  // GitLab sends its webhook secret in X-Gitlab-Token.
  const gitlab = req.headers['x-gitlab-token'];
  return source === 'gitlab' && typeof gitlab === 'string' ? gitlab : undefined;
}

/** `X-Hub-Signature-256: sha256=<hex>` over the exact body bytes. */
export function signatureMatches(secret: string, body: string, header: string | undefined): boolean {
  const m = SIGNATURE.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!.toLowerCase(), 'hex');
  const want = createHmac('sha256', secret).update(body, 'utf8').digest();
  return given.length === want.length && timingSafeEqual(given, want);
}

function headerText(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** The receiver routes; registered inside the watcher's app or alone on RECEIVER_PORT. */
export function receiverRoutes(
  app: FastifyInstance,
  opts: ReceiverOptions,
  done: (err?: Error) => void,
): void {
  const now = opts.now ?? Date.now;
  const rate = opts.ratePerSecond ?? 20;
  const buckets = new Map<Source, TokenBucket>(
    SOURCES.map((s) => [
      s,
      new TokenBucket({ ratePerSecond: rate, burst: rate * 5, now, sleep: () => Promise.resolve() }),
    ]),
  );
  // Own parsers in this scope only: the raw text is kept for the HMAC, and anything but JSON is 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: RECEIVER_BODY_LIMIT }, (req, body, done) => {
    if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) {
      done(Object.assign(new Error('the body must be JSON'), { statusCode: 415 }), undefined);
      return;
    }
    const text = typeof body === 'string' ? body : body.toString('utf8');
    rawBodies.set(req, text);
    try {
      done(null, JSON.parse(text) as unknown);
    } catch {
      done(Object.assign(new Error('the body is not valid JSON'), { statusCode: 400 }), undefined);
    }
  });

  for (const source of SOURCES) {
    const mode = SOURCE_AUTH[source];
    app.post(
      `/api/v1/webhooks/${source}`,
      {
        bodyLimit: RECEIVER_BODY_LIMIT,
        config: { access: 'own' },
        attachValidation: true,
        schema: {
          body: SCHEMAS[source],
          querystring: { type: 'object', properties: { token: { type: 'string', maxLength: 1024 } } },
        },
        // Before the body is read: floods, other replicas and header tokens cost nothing more.
        onRequest: async (req, reply) => {
          if (!buckets.get(source)!.tryTake()) {
            opts.observe(source, 'rate_limited');
            return reply.code(429).header('retry-after', '1').send({ error: 'too many requests; retry' });
          }
          if (mode !== 'hmac-sha256') {
            const token = presented(source, req);
            if (token === undefined || !tokensMatch(token, opts.token)) {
              opts.observe(source, 'unauthorized');
              return unauthorized(reply);
            }
          }
          if (!opts.isLeader()) {
            opts.observe(source, 'not_leader');
            return reply.code(503).header('retry-after', '5').send({ error: 'not the leader; retry' });
          }
        },
        preValidation: async (req, reply) => {
          if (mode !== 'hmac-sha256') return;
          const raw = rawBodies.get(req) ?? '';
          if (!signatureMatches(opts.token, raw, headerText(req, 'x-hub-signature-256'))) {
            opts.observe(source, 'unauthorized');
            return unauthorized(reply);
          }
        },
      },
      async (req, reply) => {
        if (req.validationError) {
          opts.observe(source, 'invalid');
          return reply
            .code(400)
            .send({ error: `not a ${source} push event: ${req.validationError.message}` });
        }
        const headers: PayloadHeaders = {
          'x-github-event': headerText(req, 'x-github-event'),
          'ce-type': headerText(req, 'ce-type'),
          'ce-id': headerText(req, 'ce-id'),
          'ce-time': headerText(req, 'ce-time'),
          'ce-specversion': headerText(req, 'ce-specversion'),
        };
        try {
          const parsed = parsePayload(source, req.body, headers);
          const taken = opts.trigger.receive(source, parsed.events, parsed.ignored);
          return await reply.code(202).send({ events: parsed.events.length, taken });
        } catch (err) {
          if (!(err instanceof PushPayloadError)) throw err;
          opts.observe(source, 'invalid');
          return reply.code(400).send({ error: err.message });
        }
      },
    );
  }
  done();
}

/**
 * The receivers alone on RECEIVER_PORT (with /healthz), for an Ingress that must not reach the
 * rest of the API: nothing else is routed on that port.
 */
export async function buildReceiverApp(
  opts: ReceiverOptions & { logger?: FastifyBaseLogger | false; limits?: Partial<ServerLimits> },
): Promise<FastifyInstance> {
  const limits = { ...RECEIVER_LIMITS, ...opts.limits };
  const serverOptions = {
    ...fastifyLimitOptions(limits),
    http: nodeServerOptions(limits),
    // The URL of url-token sources carries the token: no request lines in the log.
    logController: new LogController({ disableRequestLogging: true }),
  };
  const app = opts.logger
    ? Fastify({ loggerInstance: opts.logger, ...serverOptions })
    : Fastify({ logger: false, ...serverOptions });
  app.server.maxConnections = limits.maxConnections;
  limitBufferedBodies(app, {
    budget: new ByteBudget(limits.bodyBudget),
    bodyLimit: limits.bodyLimit,
    refuse: (_req, reply) =>
      reply.code(503).header('retry-after', '1').send({ error: 'too many requests in flight; retry' }),
  });
  app.get('/healthz', (_req, reply) => reply.send({ status: 'ok' }));
  await app.register(receiverRoutes, opts);
  return app;
}
