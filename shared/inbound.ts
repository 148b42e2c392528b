// Limits for the HTTP servers of both processes: socket timeouts and a per-process budget of
// request-body bytes held in memory at once (bodies are buffered whole before they are parsed).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Timeouts and caps handed to fastify and node:http (milliseconds). */
export interface ServerLimits {
  /** Socket inactivity (fastify `connectionTimeout`, socket.setTimeout). */
  connectionTimeoutMs: number;
  /** Whole request received, headers and body (node `requestTimeout`; answered 408). */
  requestTimeoutMs: number;
  /** Headers received (node `headersTimeout`); at most requestTimeoutMs. */
  headersTimeoutMs: number;
  /** Idle keep-alive socket kept open between requests. */
  keepAliveTimeoutMs: number;
  /** Requests served on one socket before it is closed (spreads load across replicas). */
  maxRequestsPerSocket: number;
  /** Open sockets at once; more are dropped at accept. */
  maxConnections: number;
  /** How often node checks requestTimeout/headersTimeout (their granularity). */
  checkIntervalMs: number;
  /** Largest body of one request. */
  bodyLimit: number;
  /** Body bytes buffered by all requests together. */
  bodyBudget: number;
}

/** The options fastify takes for these limits; spread into Fastify({...}). */
export function fastifyLimitOptions(l: ServerLimits): {
  connectionTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  maxRequestsPerSocket: number;
  bodyLimit: number;
} {
  return {
    connectionTimeout: l.connectionTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    maxRequestsPerSocket: l.maxRequestsPerSocket,
    bodyLimit: l.bodyLimit,
  };
}

/** node:http server options that fastify does not set itself (also valid for node:https). */
export function nodeServerOptions(l: ServerLimits): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    headersTimeout: Math.min(l.headersTimeoutMs, l.requestTimeoutMs),
    requestTimeout: l.requestTimeoutMs,
    connectionsCheckingInterval: l.checkIntervalMs,
  };
}

/** A count of bytes that may be reserved up to a total; pure, so it is table-tested alone. */
export class ByteBudget {
  readonly total: number;
  #used = 0;

  constructor(total: number) {
    if (!(total > 0)) throw new RangeError('a byte budget must be positive');
    this.total = total;
  }

  get used(): number {
    return this.#used;
  }

  /** Reserves `bytes` when they fit; false (and nothing reserved) when they do not. */
  tryReserve(bytes: number): boolean {
    if (bytes <= 0) return true;
    if (this.#used + bytes > this.total) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    if (bytes > 0) this.#used = Math.max(0, this.#used - bytes);
  }
}

/**
 * Bytes a request may buffer: its Content-Length (capped at the body limit, fastify refuses more
 * with 413), or the whole limit when it is chunked. Requests without a body reserve nothing.
 */
export function bodyReservation(
  headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string | undefined },
  bodyLimit: number,
): number {
  const length = headers['content-length'];
  if (length !== undefined && /^\d{1,15}$/.test(length.trim())) return Math.min(Number(length), bodyLimit);
  return headers['transfer-encoding'] !== undefined ? bodyLimit : 0;
}

export interface BodyBudgetHooks {
  budget: ByteBudget;
  bodyLimit: number;
  /** Answer when the budget is spent: 503 (the webhook) or 429 (the API) with Retry-After. */
  refuse: (request: FastifyRequest, reply: FastifyReply) => FastifyReply;
  /** Called with every refusal, for a metric or a log line. */
  onRefused?: () => void;
}

/**
 * Reserves each request's body bytes before fastify reads the body, and gives them back when the
 * response is finished or the socket goes away. A request that does not fit is answered at once,
 * before any of its body is buffered, and its connection closed (its body is never read).
 */
export function limitBufferedBodies(app: FastifyInstance, hooks: BodyBudgetHooks): void {
  app.addHook('onRequest', (request, reply, done) => {
    const bytes = bodyReservation(request.headers, hooks.bodyLimit);
    if (bytes === 0) {
      done();
      return;
    }
    // A body over the limit is fastify's 413: reserve nothing for it.
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > hooks.bodyLimit) {
      done();
      return;
    }
    if (!hooks.budget.tryReserve(bytes)) {
      hooks.onRefused?.();
      reply.header('connection', 'close');
      hooks.refuse(request, reply);
      return;
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      hooks.budget.release(bytes);
    };
    // 'close' fires on a finished response and on an aborted one alike, once (`on`: no once-wrapper
    // per request; release is idempotent anyway).
    reply.raw.on('close', release);
    done();
  });
}
