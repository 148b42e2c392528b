import Fastify, { LogController } from 'fastify';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import { ANNOTATIONS } from '../../shared/annotations.ts';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { ImageReference } from '../../shared/image-ref.ts';
import type { ServerLimits } from '../../shared/inbound.ts';
import {
  ByteBudget,
  fastifyLimitOptions,
  limitBufferedBodies,
  nodeServerOptions,
} from '../../shared/inbound.ts';
import type { ManualUpdateRequest, ManualUpdateResult, WorkloadView } from '../api.ts';
import { ManualUpdateError } from '../api.ts';
import type { WorkloadKind, WorkloadSnapshot } from '../kube/types.ts';
import { WORKLOAD_KINDS } from '../kube/types.ts';
import type { RegistryClient, RegistryCredentials } from '../registry/types.ts';
import { RegistryError } from '../registry/errors.ts';
import type { ReceiverOptions } from '../push/receiver.ts';
import { RECEIVER_BODY_LIMIT, isReceiverRequest, receiverRoutes } from '../push/receiver.ts';
import type { ResourceAccess } from './access.ts';
import { ApiAccess, bearerToken, tokensMatch } from './access.ts';
import { WATCHER_LIMITS } from './limits.ts';
import { BoundedQueue, ResolveBusyError, ResolveNotAllowedError, ResolvePolicy } from './resolve-guard.ts';
import type { LegacyStrategy } from './resolve.ts';
import { BadQueryError, LEGACY_STRATEGIES, parseStrategy, resolveImage, resolveLegacy } from './resolve.ts';

/** What the HTTP layer needs from the controller (narrow, so tests pass a small fake). */
export interface WatcherApi {
  workloads(): WorkloadView[];
  snapshot(kind: WorkloadKind, namespace: string, name: string): WorkloadSnapshot | undefined;
  manualUpdate(req: ManualUpdateRequest): Promise<ManualUpdateResult>;
}

export interface ResolveOptions {
  /** RESOLVE_REGISTRIES: registries resolve may ask besides those of watched workloads. */
  allowRegistries?: readonly string[];
  /** DOCKER_CONFIG credentials, used only for repositories a watched workload uses. */
  credentialsFor?: (registry: string) => RegistryCredentials | undefined;
  /** Resolves asking registries at once / waiting; more get 429. Default 2 / 16. */
  concurrency?: number;
  maxQueued?: number;
}

export interface AppDeps {
  api: WatcherApi;
  /**
   * The client API resolves use: its own (its own per-registry concurrency and rate limit, so
   * callers never queue in front of workload checks), asked anonymously unless the repository
   * is watched.
   */
  registry: Pick<RegistryClient, 'listTags'>;
  /** Who may call /api/v1/* and /images/*; without it, nobody but token-update holders. */
  access?: ApiAccess | undefined;
  resolve?: ResolveOptions | undefined;
  /** Overrides of WATCHER_LIMITS (tests use short timeouts). */
  limits?: Partial<ServerLimits> | undefined;
  /** Milliseconds since the epoch (caches). Default Date.now. */
  now?: () => number;
  metrics: { render(): Promise<{ contentType: string; body: string }> };
  /** False until the informers have synced. */
  ready: () => boolean;
  logger?: FastifyBaseLogger | false;
  /** The approval page plugin (watcher/approval), registered when configured. */
  approval?: { plugin: FastifyPluginAsync<never>; options: unknown } | undefined;
  /** The registry push receivers on this port (REGISTRY_WEBHOOK_TOKEN set, RECEIVER_PORT unset). */
  receiver?: ReceiverOptions | undefined;
}

/** Path parameters: each a non-empty string of at most the given length, all required. */
function requiredStrings(maxLengths: Record<string, number>): object {
  return {
    type: 'object',
    properties: Object.fromEntries(
      Object.entries(maxLengths).map(([k, max]) => [k, { type: 'string', minLength: 1, maxLength: max }]),
    ),
    required: Object.keys(maxLengths),
  };
}

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' } },
  required: ['error'],
} as const;

/** The errors of the two resolve routes (bad query, refused, unknown image, too many, registry). */
const resolveErrors = {
  400: errorSchema,
  403: errorSchema,
  404: errorSchema,
  429: errorSchema,
  502: errorSchema,
} as const;

export { tokensMatch } from './access.ts';

/**
 * Access rule of a route (fastify route `config.access`): an attribute the caller must be allowed
 * (API_TOKEN, or a Kubernetes identity and a SubjectAccessReview), or 'own' for routes that
 * authenticate by their own rules (the token-update route; the registry receivers under
 * /api/v1/webhooks/ register with 'own'). A guarded route without a rule is API_TOKEN-only.
 */
export type RouteAccess = 'own' | ((req: FastifyRequest) => ResourceAccess);

/** Paths that need a caller identity (besides the routes' own rules). */
export function isGuardedPath(path: string): boolean {
  const p = path.toLowerCase();
  return p.startsWith('/api/') || p.startsWith('/images/') || p === '/images';
}

function routeAccess(req: FastifyRequest): RouteAccess | undefined {
  return (req.routeOptions.config as { access?: RouteAccess } | undefined)?.access;
}

function upstream(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof BadQueryError) return reply.code(400).send({ error: err.message });
  if (err instanceof ResolveNotAllowedError) return reply.code(403).send({ error: err.message });
  if (err instanceof ResolveBusyError) {
    return reply.code(429).header('retry-after', String(err.retryAfterSeconds)).send({ error: err.message });
  }
  if (err instanceof RegistryError) {
    const code = err.code === 'E_REGISTRY_NOT_FOUND' ? 404 : 502;
    return reply.code(code).send({ error: err.message });
  }
  throw err;
}

const KIND_BY_LOWER = new Map(WORKLOAD_KINDS.map((k) => [k.toLowerCase(), k]));
/** `deployments`, `deployment` and `Deployment` all name the kind. */
function parseKind(value: string): WorkloadKind | undefined {
  const lower = value.toLowerCase();
  return KIND_BY_LOWER.get(lower) ?? KIND_BY_LOWER.get(lower.replace(/s$/, ''));
}

export async function build(deps: AppDeps): Promise<FastifyInstance> {
  const limits = { ...WATCHER_LIMITS, ...deps.limits };
  const now = deps.now ?? Date.now;
  const serverOptions = {
    ...fastifyLimitOptions(limits),
    // Kubernetes names run to 253 characters: fastify's default (100) would answer 414 before
    // the route schemas (requiredStrings) say what is too long.
    routerOptions: { maxParamLength: 255 },
    http: nodeServerOptions(limits),
    logController: new LogController({ disableRequestLogging: isReceiverRequest }),
  };
  // fastify 5 takes a ready pino instance as `loggerInstance`, options as `logger`.
  const app = deps.logger
    ? Fastify({ loggerInstance: deps.logger, ...serverOptions })
    : Fastify({ logger: false, ...serverOptions });
  app.server.maxConnections = limits.maxConnections;
  app.server.headersTimeout = nodeServerOptions(limits).headersTimeout;
  limitBufferedBodies(app, {
    budget: new ByteBudget(limits.bodyBudget),
    // The receivers take larger bodies than the API routes.
    bodyLimit: deps.receiver ? Math.max(limits.bodyLimit, RECEIVER_BODY_LIMIT) : limits.bodyLimit,
    refuse: (_req, reply) =>
      reply.code(503).header('retry-after', '1').send({ error: 'too many requests in flight; retry' }),
  });

  const access = deps.access ?? new ApiAccess({ now });
  app.addHook('onRequest', async (req, reply) => {
    const rule = routeAccess(req);
    if (rule === 'own') return;
    // A request that matched no route is guarded by its path, so 404s tell strangers nothing.
    const path = req.routeOptions.url ?? req.url.split('?')[0] ?? '/';
    if (!isGuardedPath(path) && !isGuardedPath(req.url)) return;
    const decision = await access.decide(req.headers.authorization, rule?.(req));
    if (decision.result === 'allowed') return;
    if (decision.result === 'unauthenticated') {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    }
    if (decision.result === 'unavailable') {
      return reply.code(503).header('retry-after', '1').send({ error: 'cannot check the caller now; retry' });
    }
    return reply.code(403).send({ error: 'forbidden' });
  });

  const policy = new ResolvePolicy({
    watchedImages: () => deps.api.workloads().flatMap((w) => w.containers.map((c) => c.image)),
    allowRegistries: deps.resolve?.allowRegistries ?? [],
    ...(deps.resolve?.credentialsFor ? { credentialsFor: deps.resolve.credentialsFor } : {}),
    now,
  });
  const queue = new BoundedQueue({
    concurrency: deps.resolve?.concurrency ?? 2,
    maxQueued: deps.resolve?.maxQueued ?? 16,
  });
  // Policy first (a cheap 403), then the queue (429 when full), then the registry.
  const resolver: Pick<RegistryClient, 'listTags'> = {
    listTags: (ref: ImageReference) => {
      const plan = policy.plan(ref);
      return queue.run(() => deps.registry.listTags(ref, { credentials: plan.credentials }));
    },
  };
  const readWorkloads = { access: (): ResourceAccess => ({ verb: 'list', resource: 'workloads' }) };
  const readImages = { access: (): ResourceAccess => ({ verb: 'get', resource: 'images' }) };

  app.setErrorHandler((err: unknown, req, reply) => {
    const e = err as { validation?: unknown; statusCode?: number; message?: string };
    if (e.validation) return reply.code(400).send({ error: e.message ?? 'bad request' });
    if (typeof e.statusCode === 'number' && e.statusCode < 500)
      return reply.code(e.statusCode).send({ error: e.message ?? 'bad request' });
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal error' });
  });

  app.get('/healthz', (_req, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', (_req, reply) =>
    deps.ready() ? reply.send({ status: 'ready' }) : reply.code(503).send({ status: 'starting' }),
  );
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await deps.metrics.render();
    return reply.type(contentType).send(body);
  });

  // Before the first list an empty answer would read as "no workloads", not "not connected".
  app.get('/api/v1/workloads', { config: readWorkloads }, (_req, reply) =>
    deps.ready()
      ? reply.send({ workloads: deps.api.workloads() })
      : reply.code(503).send({
          error: 'not synced yet: the watcher has not listed the workloads from the Kubernetes API',
          code: 'E_NOT_SYNCED',
        }),
  );

  app.get<{ Querystring: { image: string; strategy?: string } }>(
    '/api/v1/resolve',
    {
      config: readImages,
      schema: {
        querystring: {
          type: 'object',
          properties: {
            image: { type: 'string', minLength: 1, maxLength: 512 },
            strategy: { type: 'string', maxLength: 16 },
          },
          required: ['image'],
        },
        response: resolveErrors,
      },
    },
    async (req, reply) => {
      try {
        return await resolveImage(resolver, req.query.image, parseStrategy(req.query.strategy));
      } catch (err) {
        return upstream(reply, err);
      }
    },
  );

  app.get<{
    Params: { org: string; image: string; tag: string };
    Querystring: { strategy?: LegacyStrategy };
  }>(
    '/images/:org/:image/:tag',
    {
      config: readImages,
      schema: {
        params: requiredStrings({ org: 255, image: 255, tag: 128 }),
        querystring: {
          type: 'object',
          properties: { strategy: { type: 'string', enum: [...LEGACY_STRATEGIES] } },
        },
        response: resolveErrors,
      },
    },
    async (req, reply) => {
      try {
        const { org, image, tag } = req.params;
        return await resolveLegacy(resolver, org, image, tag, req.query.strategy ?? 'minor');
      } catch (err) {
        return upstream(reply, err);
      }
    },
  );

  app.post<{ Params: { namespace: string; kind: string; name: string }; Querystring: { version?: string } }>(
    '/api/v1/workloads/:namespace/:kind/:name/update',
    {
      config: { access: 'own' satisfies RouteAccess },
      schema: {
        params: requiredStrings({ namespace: 253, kind: 32, name: 253 }),
        querystring: {
          type: 'object',
          properties: { version: { type: 'string', minLength: 1, maxLength: 128 } },
        },
      },
    },
    async (req, reply) => {
      const { namespace, name } = req.params;
      const kind = parseKind(req.params.kind);
      const token = bearerToken(req.headers.authorization);
      const w = kind ? deps.api.snapshot(kind, namespace, name) : undefined;
      // The workload's own token-update, else a caller allowed to update it (API_TOKEN or RBAC).
      // One answer for every failure (unknown workload, no token, wrong token): nothing to probe.
      const allowed =
        kind !== undefined &&
        token !== undefined &&
        (tokensMatch(token, w?.annotations[ANNOTATIONS.tokenUpdate]) ||
          (
            await access.decide(req.headers.authorization, {
              verb: 'update',
              resource: 'workloads',
              namespace,
              name,
            })
          ).result === 'allowed');
      if (!allowed) return reply.code(403).send({ error: 'forbidden' });
      try {
        const result = await deps.api.manualUpdate({ kind, namespace, name, version: req.query.version });
        return await reply.code(result.status === 'updating' ? 202 : 200).send(result);
      } catch (err) {
        if (err instanceof ManualUpdateError) {
          const status = {
            E_NOT_FOUND: 404,
            E_DISABLED: 409,
            E_BAD_VERSION: 400,
            E_NO_UPDATE: 409,
            E_HELD: 409,
            E_CONFLICT: 409,
            E_UPDATE_FAILED: 502,
            E_BAD_ANNOTATIONS: 409,
            E_STOPPING: 503,
          }[err.code];
          if (status === 503) reply.header('retry-after', '1');
          return reply.code(status).send({ error: err.message, code: err.code });
        }
        if (err instanceof ImageWatcherError)
          return reply.code(502).send({ error: err.message, code: err.code });
        throw err;
      }
    },
  );

  if (deps.approval) await app.register(deps.approval.plugin, deps.approval.options as never);
  if (deps.receiver) await app.register(receiverRoutes, deps.receiver);
  return app;
}
