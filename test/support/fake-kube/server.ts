import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { applyPatchByContentType, PatchError, type Json } from './patch.ts';
import {
  apiVersionOf,
  parseResourcePath,
  prefixOf,
  resolveType,
  typeForObject,
  type ResourceType,
} from './resources.ts';
import { subjectAccessReview, tokenReview, type FakeAccessRule, type FakeUser } from './reviews.ts';
import { rolloutStatus, type RolloutMode, type RolloutPolicy } from './rollout.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { ObjectStore, StoreError, type KubeObject, type StoredEvent } from './store.ts';

export type { KubeObject } from './store.ts';
export type { RolloutMode, RolloutPolicy } from './rollout.ts';
export type { FakeAccessRule, FakeUser } from './reviews.ts';

export interface FakeKubeOptions {
  /** Bearer token clients must send (the kubeconfig carries it). Default 'fake-kube-token'. */
  token?: string;
  /** Watch events kept for resuming watches; older resourceVersions get 410 Gone. Default 10000. */
  historyLimit?: number;
  /** Simulated rollout controller for Deployments, StatefulSets and DaemonSets. Default 'succeed'. */
  autoRollout?: RolloutPolicy;
  /** Delay before the simulated controller writes the status after a spec change. Default 30 ms. */
  rolloutDelayMs?: number;
  /** Interval of BOOKMARK events on watches that allow them. Default 60 s (as a real server, roughly). */
  bookmarkIntervalMs?: number;
  /** Bearer tokens TokenReview authenticates, and whose they are. */
  identities?: Record<string, FakeUser>;
  /** What SubjectAccessReview allows (RBAC-like; nothing else is allowed). */
  accessRules?: FakeAccessRule[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  /** Parsed JSON when the body is JSON, else the raw text; undefined without body. */
  body: unknown;
  watch: boolean;
  at: number;
}

export interface RequestFilter {
  method?: string;
  pathPattern?: RegExp | string;
  watch?: boolean;
}

export interface FaultSpec extends RequestFilter {
  /** Respond with this HTTP status and a Kubernetes Status body (or `body`). */
  status?: number;
  body?: unknown;
  /** Retry-After header, e.g. with 429. */
  retryAfterSeconds?: number;
  /** Wait before acting (or before serving normally when nothing else is set). */
  delayMs?: number;
  /** Watches only: serve, then cut the connection abruptly after N events (default 0) or after ms. */
  dropWatch?: boolean | { afterEvents?: number; afterMs?: number };
  /** Watches only: answer 200 and then never send anything (a silently stalled watch). */
  hangWatch?: boolean;
  /** Watches only: answer 200, send one ERROR event carrying a Status with this code, end. */
  watchError?: number;
  /** Destroy the socket without answering (a network failure). */

  resetConnection?: boolean;
  /** How many matching requests it applies to. Default 1; Infinity for all. */
  times?: number;
}

export interface FaultHandle {
  readonly hits: number;
  readonly remaining: number;
  remove(): void;
}

interface ActiveFault {
  spec: FaultSpec;
  remaining: number;
  hits: number;
}

interface OpenWatch {
  res: http.ServerResponse;
  hanging: boolean;
  close(abrupt: boolean): void;
}

const MAX_BODY = 10 * 1024 * 1024;

function status(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function matches(filter: RequestFilter, method: string, path: string, watch: boolean): boolean {
  if (filter.method !== undefined && filter.method.toUpperCase() !== method) return false;
  if (filter.watch !== undefined && filter.watch !== watch) return false;
  if (filter.pathPattern !== undefined) {
    if (
      typeof filter.pathPattern === 'string'
        ? !path.includes(filter.pathPattern)
        : !filter.pathPattern.test(path)
    ) {
      return false;
    }
  }
  return true;
}

/** A Kubernetes API server in memory, spoken to over HTTP by the real client-node. */
export class FakeKube {
  readonly requests: RecordedRequest[] = [];
  private readonly store: ObjectStore;
  private readonly server: http.Server;
  private readonly faults: ActiveFault[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly rolloutOverrides = new Map<string, RolloutMode>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly token: string;
  private readonly autoRollout: RolloutPolicy;
  private readonly rolloutDelayMs: number;
  private readonly bookmarkIntervalMs: number;
  private readonly identities = new Map<string, FakeUser>();
  private readonly accessRules: FakeAccessRule[] = [];
  private port = 0;
  private closed = false;

  constructor(opts: FakeKubeOptions = {}) {
    this.token = opts.token ?? 'fake-kube-token';
    this.autoRollout = opts.autoRollout ?? 'succeed';
    this.rolloutDelayMs = opts.rolloutDelayMs ?? 30;
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 60_000;
    for (const [token, user] of Object.entries(opts.identities ?? {})) this.identities.set(token, user);
    this.accessRules.push(...(opts.accessRules ?? []));
    this.store = new ObjectStore(opts.historyLimit ?? 10_000);
    this.store.subscribe((e) => this.onStoreEvent(e));
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.sendJson(res, 500, status(500, 'InternalError', String(err)));
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 1000;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A fresh KubeConfig for this server: plain HTTP (skipTLSVerify, as client-node requires) and a token. */
  kubeConfig(): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake-user', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake-user', namespace: 'default' }],
      currentContext: 'fake',
    });
    return kc;
  }

  get kubeconfig(): k8s.KubeConfig {
    return this.kubeConfig();
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.store.resourceVersion);
  }

  // ---- test helpers on objects -------------------------------------------------------------

  /**
   * Creates objects (a watch sees ADDED). Workloads without a status get the status of a
   * completed rollout right away unless their rollout mode is 'off'. Returns the stored copies.
   */
  seed(...objs: (object | object[])[]): KubeObject[] {
    return objs.flat().map((o) => {
      const input = structuredClone(o) as Record<string, unknown> & { kind?: unknown; apiVersion?: unknown };
      const r = typeForObject(input);
      const ns = (input.metadata as { namespace?: string } | undefined)?.namespace;
      if (r.rollout && input.status === undefined) {
        const draft = { ...input, metadata: { ...(input.metadata as object), generation: 1 } } as KubeObject;
        const mode = this.rolloutModeFor(draft);
        if (mode !== 'off') input.status = rolloutStatus(draft, mode);
      }
      return this.store.create(r, input, r.namespaced ? (ns ?? 'default') : undefined);
    });
  }

  /** Creates or replaces an object (unconditionally). */
  upsert(obj: object): KubeObject {
    const input = structuredClone(obj) as Record<string, unknown> & { kind?: unknown; apiVersion?: unknown };
    const r = typeForObject(input);
    const meta = (input.metadata ?? {}) as { name?: string; namespace?: string; resourceVersion?: string };
    const ns = r.namespaced ? (meta.namespace ?? 'default') : undefined;
    if (meta.name !== undefined && this.store.get(r, ns, meta.name)) {
      delete meta.resourceVersion;
      const out = this.store.update(r, ns, meta.name, input);
      if (input.status !== undefined && r.statusSubresource)
        return this.store.update(r, ns, meta.name, input, { statusOnly: true });
      return out;
    }
    return this.store.create(r, input, ns);
  }

  /** `kind` as 'Deployment', 'deployments' or 'apps/v1/Deployment'. */
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const r = resolveType(kind);
    return this.store.get(r, r.namespaced ? namespace : undefined, name);
  }

  list(kind: string, namespace?: string): KubeObject[] {
    return this.store.list(resolveType(kind), namespace);
  }

  /** Deletes an object (a watch sees DELETED). False when it did not exist. */
  delete(kind: string, namespace: string | undefined, name: string): boolean {
    const r = resolveType(kind);
    try {
      this.store.delete(r, r.namespaced ? namespace : undefined, name);
      return true;
    } catch (err) {
      if (err instanceof StoreError && err.code === 404) return false;
      throw err;
    }
  }

  /** Writes the status subresource (a watch sees MODIFIED). */
  setStatus(kind: string, namespace: string, name: string, newStatus: unknown): KubeObject {
    const r = resolveType(kind);
    return this.store.update(r, namespace, name, { status: newStatus }, { statusOnly: true });
  }

  /** Overrides the simulated rollout of one workload; undefined returns to the server's policy. */
  setAutoRollout(kind: string, namespace: string, name: string, mode: RolloutMode | undefined): void {
    const key = `${resolveType(kind).kind}/${namespace}/${name}`;
    if (mode === undefined) this.rolloutOverrides.delete(key);
    else this.rolloutOverrides.set(key, mode);
  }

  // ---- authentication and authorization reviews ------------------------------------------------

  /** A token TokenReview will authenticate as `user` (replaces an earlier one). */
  addIdentity(token: string, user: FakeUser): void {
    this.identities.set(token, user);
  }

  /** TokenReview no longer authenticates the token (a deleted service account). */
  revokeIdentity(token: string): void {
    this.identities.delete(token);
  }

  /** Grants what the rule says to its users and groups. */
  addAccessRule(rule: FakeAccessRule): void {
    this.accessRules.push(rule);
  }

  clearAccessRules(): void {
    this.accessRules.length = 0;
  }

  // ---- test helpers on the protocol --------------------------------------------------------

  /** Forgets the watch history: every watch resuming from an older resourceVersion gets 410 Gone. */
  compactHistory(): void {
    this.store.compact();
  }

  /** Ends every open watch: cleanly (the client sees the stream end) or abruptly (socket reset). */
  closeWatches(opts: { abrupt?: boolean } = {}): number {
    const open = [...this.watches];
    for (const w of open) w.close(opts.abrupt ?? false);
    return open.length;
  }

  /** Open watch streams, optionally only the hanging (stalled) ones. */
  openWatches(opts: { hanging?: boolean } = {}): number {
    let n = 0;
    for (const w of this.watches) if (opts.hanging === undefined || w.hanging === opts.hanging) n += 1;
    return n;
  }

  injectFault(spec: FaultSpec): FaultHandle {
    const fault: ActiveFault = { spec, remaining: spec.times ?? 1, hits: 0 };
    this.faults.push(fault);
    return {
      get hits() {
        return fault.hits;
      },
      get remaining() {
        return fault.remaining;
      },
      remove: () => {
        const i = this.faults.indexOf(fault);
        if (i >= 0) this.faults.splice(i, 1);
      },
    };
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  requestsMatching(filter: RequestFilter): RecordedRequest[] {
    return this.requests.filter((r) => matches(filter, r.method, r.path, r.watch));
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of [...this.watches]) w.close(true);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- simulated rollout controller ---------------------------------------------------------

  private rolloutModeFor(obj: KubeObject): RolloutMode {
    const override = this.rolloutOverrides.get(
      `${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`,
    );
    if (override) return override;
    return typeof this.autoRollout === 'function' ? this.autoRollout(obj) : this.autoRollout;
  }

  private onStoreEvent(e: StoredEvent): void {
    if (!e.resource.rollout || e.type === 'DELETED' || this.closed) return;
    const obj = e.object;
    const gen = obj.metadata.generation ?? 1;
    const observed = (obj.status as { observedGeneration?: number } | undefined)?.observedGeneration;
    if (observed === gen) return;
    const mode = this.rolloutModeFor(obj);
    if (mode === 'off') return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const ns = obj.metadata.namespace;
      const current = this.store.get(e.resource, ns, obj.metadata.name);
      // Acts on the newest generation only, like a controller that saw the latest spec.
      if (!current || current.metadata.generation !== gen) return;
      const next = rolloutStatus(current, mode);
      if (next) this.store.update(e.resource, ns, obj.metadata.name, { status: next }, { statusOnly: true });
    }, this.rolloutDelayMs);
    this.timers.add(timer);
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = (req.method ?? 'GET').toUpperCase();
    const query = Object.fromEntries(url.searchParams.entries());
    const isWatch = query.watch === 'true' || query.watch === '1';
    const contentType = req.headers['content-type'];
    const raw = await readBody(req);
    if (raw === undefined) {
      this.sendJson(res, 413, status(413, 'RequestEntityTooLarge', 'request body too large'));
      return;
    }
    let body: unknown = undefined;
    if (raw.length > 0) {
      try {
        body = contentType?.includes('yaml') ? raw : JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    this.requests.push({
      method,
      path: url.pathname,
      query,
      contentType,
      body,
      watch: isWatch,
      at: Date.now(),
    });

    const fault = this.takeFault(method, url.pathname, isWatch);
    if (fault?.delayMs) await this.sleep(fault.delayMs);
    if (this.closed) {
      res.destroy();
      return;
    }
    if (fault?.resetConnection) {
      req.socket.destroy();
      return;
    }
    if (fault?.status !== undefined) {
      const headers: Record<string, string> = {};
      if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
      const reason = REASONS[fault.status] ?? 'Unknown';
      this.sendJson(
        res,
        fault.status,
        fault.body ?? status(fault.status, reason, `injected fault: ${reason}`),
        headers,
      );
      return;
    }

    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.sendJson(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (method === 'GET' && url.pathname === '/version') {
      this.sendJson(res, 200, {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.0-fake',
        platform: 'linux/amd64',
      });
      return;
    }
    const review =
      url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews'
        ? () => tokenReview(body, this.identities)
        : url.pathname === '/apis/authorization.k8s.io/v1/subjectaccessreviews'
          ? () => subjectAccessReview(body, this.accessRules)
          : undefined;
    if (review !== undefined) {
      if (method !== 'POST') this.methodNotAllowed(res, method);
      else {
        const answer = review();
        this.sendJson(res, answer.code, answer.body);
      }
      return;
    }
    const parsed = parseResourcePath(url.pathname);
    if (!parsed) {
      this.sendJson(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    const { type: r, namespace, name, subresource } = parsed;
    if (subresource !== undefined && !(subresource === 'status' && r.statusSubresource)) {
      this.sendJson(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return;
    }
    try {
      if (name === undefined) {
        if (method === 'GET' && isWatch) this.watch(req, res, r, namespace, query, fault);
        else if (method === 'GET') this.sendJson(res, 200, this.listObjects(r, namespace, query));
        else if (method === 'POST' && (namespace !== undefined || !r.namespaced)) {
          this.sendJson(res, 201, this.store.create(r, asObject(body), namespace));
        } else this.methodNotAllowed(res, method);
        return;
      }
      if (r.namespaced && namespace === undefined) {
        this.sendJson(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
        return;
      }
      switch (method) {
        case 'GET': {
          const obj = this.store.get(r, namespace, name);
          if (!obj)
            throw new StoreError(
              404,
              'NotFound',
              `${r.plural}${r.group ? '.' + r.group : ''} "${name}" not found`,
            );
          this.sendJson(res, 200, obj);
          return;
        }
        case 'PUT': {
          const input = asObject(body);
          const rv = (input.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
          this.sendJson(
            res,
            200,
            this.store.update(r, namespace, name, input, {
              expectedRv: rv,
              statusOnly: subresource === 'status',
            }),
          );
          return;
        }
        case 'PATCH': {
          const current = this.store.get(r, namespace, name);
          if (!current)
            throw new StoreError(
              404,
              'NotFound',
              `${r.plural}${r.group ? '.' + r.group : ''} "${name}" not found`,
            );
          const patched = applyPatchByContentType(
            current as unknown as { [k: string]: Json },
            contentType ?? '',
            body,
          );
          const rv = (patched.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
          this.sendJson(
            res,
            200,
            this.store.update(r, namespace, name, patched, {
              expectedRv: rv,
              statusOnly: subresource === 'status',
            }),
          );
          return;
        }
        case 'DELETE':
          this.sendJson(res, 200, this.store.delete(r, namespace, name));
          return;
        default:
          this.methodNotAllowed(res, method);
      }
    } catch (err) {
      if (err instanceof StoreError) {
        this.sendJson(
          res,
          err.code,
          status(err.code, err.reason, err.message, { name, group: r.group, kind: r.plural }),
        );
      } else if (err instanceof PatchError) {
        this.sendJson(
          res,
          err.code,
          status(err.code, REASONS[err.code] ?? 'Invalid', err.message, {
            name,
            group: r.group,
            kind: r.plural,
          }),
        );
      } else if (err instanceof BadRequest) {
        this.sendJson(res, 400, status(400, 'BadRequest', err.message));
      } else {
        throw err;
      }
    }
  }

  private takeFault(method: string, path: string, watch: boolean): FaultSpec | undefined {
    for (const f of this.faults) {
      if (f.remaining <= 0 || !matches(f.spec, method, path, watch)) continue;
      if ((f.spec.dropWatch || f.spec.hangWatch || f.spec.watchError !== undefined) && !watch) continue;
      f.remaining -= 1;
      f.hits += 1;
      return f.spec;
    }
    return undefined;
  }

  private listObjects(r: ResourceType, namespace: string | undefined, query: Record<string, string>) {
    const labelOk = selectorOrBadRequest(() => parseLabelSelector(query.labelSelector));
    const fieldOk = selectorOrBadRequest(() => parseFieldSelector(query.fieldSelector));
    let items = this.store.listShared(r, namespace).filter((o) => labelOk(o) && fieldOk(o));
    let listRv = this.resourceVersion;
    let cont: string | undefined;
    // Paging: the token carries the first page's resourceVersion and the last key served
    // (not a consistent snapshot, unlike etcd; the later watch replays what changed).
    if (query.continue) {
      let token: { rv: string; after: string };
      try {
        token = JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8')) as {
          rv: string;
          after: string;
        };
      } catch {
        throw new BadRequest('invalid continue token');
      }
      listRv = token.rv;
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > token.after);
    }
    const limit = Number(query.limit ?? '0');
    if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      const last = items[items.length - 1]!;
      const after = `${last.metadata.namespace ?? ''}/${last.metadata.name}`;
      cont = Buffer.from(JSON.stringify({ rv: listRv, after })).toString('base64url');
    }
    // Items of a real list carry no apiVersion/kind.
    const page = items.map(({ apiVersion: _a, kind: _k, ...rest }) => structuredClone(rest));
    return {
      kind: `${r.kind}List`,
      apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: listRv, ...(cont ? { continue: cont } : {}) },
      items: page,
    };
  }

  private watch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    r: ResourceType,
    namespace: string | undefined,
    query: Record<string, string>,
    fault: FaultSpec | undefined,
  ): void {
    const labelOk = selectorOrBadRequest(() => parseLabelSelector(query.labelSelector));
    const fieldOk = selectorOrBadRequest(() => parseFieldSelector(query.fieldSelector));
    const rvParam = query.resourceVersion ?? '';
    const fromRv = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (fromRv !== undefined && !Number.isSafeInteger(fromRv))
      throw new BadRequest(`invalid resourceVersion: ${rvParam}`);

    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    const passes = (o: KubeObject) => labelOk(o) && fieldOk(o);
    /**
     * The event this watch sees, as the API server's watch cache decides it: a change that moves
     * an object into the selection is ADDED, out of it DELETED (the previous content with the
     * event's resourceVersion), else MODIFIED; undefined when neither side passes.
     */
    const seen = (e: StoredEvent): { type: string; object: KubeObject } | undefined => {
      if (e.resource !== r || (namespace !== undefined && e.object.metadata.namespace !== namespace))
        return undefined;
      const now = passes(e.object);
      if (e.type !== 'MODIFIED' || e.previous === undefined)
        return now ? { type: e.type, object: e.object } : undefined;
      const before = passes(e.previous);
      if (now) return { type: before ? 'MODIFIED' : 'ADDED', object: e.object };
      if (!before) return undefined;
      const object = structuredClone(e.previous);
      object.metadata.resourceVersion = e.object.metadata.resourceVersion;
      return { type: 'DELETED', object };
    };

    let sent = 0;
    const cleanups: (() => void)[] = [];
    let open = true;
    const watch: OpenWatch = {
      res,
      hanging: fault?.hangWatch === true,
      close: (abrupt) => {
        if (!open) return;
        open = false;
        this.watches.delete(watch);
        for (const c of cleanups) c();
        if (abrupt) res.destroy();
        else res.end();
      },
    };
    this.watches.add(watch);
    req.on('close', () => watch.close(true));
    res.on('close', () => watch.close(true));
    if (watch.hanging) return; // headers sent, then silence until the client gives up
    if (fault?.watchError !== undefined) {
      const code = fault.watchError;
      const reason = REASONS[code] ?? 'Unknown';
      res.write(
        JSON.stringify({ type: 'ERROR', object: status(code, reason, `injected watch error: ${reason}`) }) +
          '\n',
      );
      watch.close(false);
      return;
    }

    const drop = typeof fault?.dropWatch === 'object' ? fault.dropWatch : fault?.dropWatch ? {} : undefined;
    const write = (line: unknown) => {
      if (!open) return;
      sent += 1;
      if (drop?.afterEvents !== undefined && sent >= drop.afterEvents) {
        // Cut the connection once this line is on the wire, without the chunked terminator.
        const socket = res.socket;
        res.write(JSON.stringify(line) + '\n', () => socket?.destroy());
        open = false;
        this.watches.delete(watch);
        for (const c of cleanups) c();
        return;
      }
      res.write(JSON.stringify(line) + '\n');
    };

    if (fromRv === undefined) {
      // "Any"/"most recent": a synthetic ADDED for every current object, then changes.
      for (const o of this.store.list(r, namespace))
        if (labelOk(o) && fieldOk(o)) write({ type: 'ADDED', object: o });
    } else {
      const events = this.store.eventsSince(fromRv);
      if (events === undefined) {
        write({
          type: 'ERROR',
          object: status(
            410,
            'Expired',
            `too old resource version: ${fromRv} (${this.store.compactedBelow - 1})`,
          ),
        });
        watch.close(false);
        return;
      }
      for (const e of events) {
        const event = seen(e);
        if (event) write(event);
      }
    }
    if (drop !== undefined && drop.afterEvents === undefined && drop.afterMs === undefined) {
      watch.close(true);
      return;
    }
    cleanups.push(
      this.store.subscribe((e) => {
        const event = seen(e);
        if (event) write(event);
      }),
    );
    if (drop?.afterMs !== undefined) cleanups.push(this.timer(() => watch.close(true), drop.afterMs));
    const timeout = Number(query.timeoutSeconds ?? '0');
    if (timeout > 0) cleanups.push(this.timer(() => watch.close(false), timeout * 1000));
    if (query.allowWatchBookmarks === 'true') {
      const interval = setInterval(() => {
        write({
          type: 'BOOKMARK',
          object: {
            kind: r.kind,
            apiVersion: apiVersionOf(r),
            metadata: { resourceVersion: this.resourceVersion },
          },
        });
      }, this.bookmarkIntervalMs);
      cleanups.push(() => clearInterval(interval));
    }
  }

  private timer(fn: () => void, ms: number): () => void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return () => {
      clearTimeout(t);
      this.timers.delete(t);
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timer(resolve, ms));
  }

  private methodNotAllowed(res: http.ServerResponse, method: string): void {
    this.sendJson(
      res,
      405,
      status(
        405,
        'MethodNotAllowed',
        `the server does not allow this method on the requested resource: ${method}`,
      ),
    );
  }

  private sendJson(
    res: http.ServerResponse,
    code: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }
}

class BadRequest extends Error {}

function selectorOrBadRequest<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new BadRequest((err as Error).message);
  }
}

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new BadRequest('request body must be a JSON object');
  return body as Record<string, unknown>;
}

async function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export { prefixOf };
