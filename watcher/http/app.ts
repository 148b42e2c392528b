import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { ANNOTATIONS } from '../../shared/annotations.ts';
import { ImageWatcherError } from '../../shared/errors.ts';
import type { ManualUpdateResult, WorkloadView } from '../api.ts';
import { ManualUpdateError } from '../api.ts';
import type { WorkloadKind, WorkloadSnapshot } from '../kube/types.ts';
import { WORKLOAD_KINDS } from '../kube/types.ts';
import type { RegistryClient } from '../registry/types.ts';
import { RegistryError } from '../registry/errors.ts';
import type { LegacyStrategy } from './resolve.ts';
import { BadQueryError, LEGACY_STRATEGIES, parseStrategy, resolveImage, resolveLegacy } from './resolve.ts';

/** What the HTTP layer needs from the controller (narrow, so tests pass a small fake). */
export interface WatcherApi {
  workloads(): WorkloadView[];
  snapshot(kind: WorkloadKind, namespace: string, name: string): WorkloadSnapshot | undefined;
  manualUpdate(req: {
    kind: WorkloadKind;
    namespace: string;
    name: string;
    version?: string | undefined;
  }): Promise<ManualUpdateResult>;
}

export interface AppDeps {
  api: WatcherApi;
  registry: Pick<RegistryClient, 'listTags'>;
  metrics: { render(): Promise<{ contentType: string; body: string }> };
  /** False until the informers have synced. */
  ready: () => boolean;
  logger?: FastifyBaseLogger | false;
  /** The approval page plugin (watcher/approval), registered when configured. */
  approval?: { plugin: FastifyPluginAsync<never>; options: unknown } | undefined;
}

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' } },
  required: ['error'],
} as const;

/** Hashing first gives equal lengths, so timingSafeEqual compares without leaking the token's length. */
export function tokensMatch(given: string, expected: string | undefined): boolean {
  if (expected === undefined || expected === '') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

function upstream(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof BadQueryError) return reply.code(400).send({ error: err.message });
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
  // fastify 5 takes a ready pino instance as `loggerInstance`, options as `logger`.
  const app = deps.logger
    ? Fastify({ loggerInstance: deps.logger, bodyLimit: 1024 * 1024 })
    : Fastify({ logger: false, bodyLimit: 1024 * 1024 });

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
  app.get('/api/v1/workloads', (_req, reply) =>
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
      schema: {
        querystring: {
          type: 'object',
          properties: {
            image: { type: 'string', minLength: 1, maxLength: 512 },
            strategy: { type: 'string', maxLength: 16 },
          },
          required: ['image'],
        },
        response: { 400: errorSchema, 404: errorSchema, 502: errorSchema },
      },
    },
    async (req, reply) => {
      try {
        return await resolveImage(deps.registry, req.query.image, parseStrategy(req.query.strategy));
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
      schema: {
        params: {
          type: 'object',
          properties: {
            org: { type: 'string', minLength: 1, maxLength: 255 },
            image: { type: 'string', minLength: 1, maxLength: 255 },
            tag: { type: 'string', minLength: 1, maxLength: 128 },
          },
          required: ['org', 'image', 'tag'],
        },
        querystring: {
          type: 'object',
          properties: { strategy: { type: 'string', enum: [...LEGACY_STRATEGIES] } },
        },
        response: { 400: errorSchema, 404: errorSchema, 502: errorSchema },
      },
    },
    async (req, reply) => {
      try {
        const { org, image, tag } = req.params;
        return await resolveLegacy(deps.registry, org, image, tag, req.query.strategy ?? 'minor');
      } catch (err) {
        return upstream(reply, err);
      }
    },
  );

  app.post<{ Params: { namespace: string; kind: string; name: string }; Querystring: { version?: string } }>(
    '/api/v1/workloads/:namespace/:kind/:name/update',
    {
      schema: {
        params: {
          type: 'object',
          properties: {
            namespace: { type: 'string', minLength: 1, maxLength: 253 },
            kind: { type: 'string', minLength: 1, maxLength: 32 },
            name: { type: 'string', minLength: 1, maxLength: 253 },
          },
          required: ['namespace', 'kind', 'name'],
        },
        querystring: {
          type: 'object',
          properties: { version: { type: 'string', minLength: 1, maxLength: 128 } },
        },
      },
    },
    async (req, reply) => {
      const { namespace, name } = req.params;
      const kind = parseKind(req.params.kind);
      const token = bearer(req.headers.authorization);
      const w = kind ? deps.api.snapshot(kind, namespace, name) : undefined;
      // One answer for every failure (unknown workload, no token, wrong token): nothing to probe.
      if (!kind || token === undefined || !tokensMatch(token, w?.annotations[ANNOTATIONS.tokenUpdate])) {
        return reply.code(403).send({ error: 'forbidden' });
      }
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
            E_CONFLICT: 409,
            E_UPDATE_FAILED: 502,
            E_BAD_ANNOTATIONS: 409,
          }[err.code];
          return reply.code(status).send({ error: err.message, code: err.code });
        }
        if (err instanceof ImageWatcherError)
          return reply.code(502).send({ error: err.message, code: err.code });
        throw err;
      }
    },
  );

  if (deps.approval) await app.register(deps.approval.plugin, deps.approval.options as never);
  return app;
}
