// TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1) as the
// real API server answers them: 201 with the review and its status, 400/422 for malformed specs,
// RBAC-like rules (verbs, API groups, resources with subresources, names, namespaces, non-resource
// URLs with a trailing `*`) and `system:masters` allowed everything.

export interface FakeUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  /** Audiences the token is valid for. Default: the API server's (`https://kubernetes.default.svc`). */
  audiences?: string[];
}

/** One rule bound to users/groups, like a (Cluster)Role rule plus its binding. */
export interface FakeAccessRule {
  /** Binding name for the `reason` text. */
  name?: string;
  users?: string[];
  groups?: string[];
  verbs: string[];
  apiGroups?: string[];
  /** `resource`, `resource/subresource`, `*` or `*` with a subresource. */
  resources?: string[];
  resourceNames?: string[];
  /** Undefined: a ClusterRoleBinding (every namespace and cluster scope); else RoleBindings there. */
  namespaces?: string[];
  /** Exact paths, or prefixes ending in `*`. */
  nonResourceURLs?: string[];
}

export const DEFAULT_AUDIENCES = ['https://kubernetes.default.svc'];

export interface ReviewAnswer {
  code: number;
  body: unknown;
}

function statusError(code: number, reason: string, message: string, causes?: object[]): ReviewAnswer {
  return {
    code,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(causes ? { details: { kind: 'review', causes } } : {}),
      code,
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function wrongKind(
  body: Record<string, unknown>,
  apiVersion: string,
  kind: string,
): ReviewAnswer | undefined {
  if (body.apiVersion !== apiVersion || body.kind !== kind) {
    return statusError(
      400,
      'BadRequest',
      `the object provided is unrecognized (must be of type ${kind}): expected ${apiVersion} ${kind}`,
    );
  }
  return undefined;
}

export function tokenReview(body: unknown, identities: ReadonlyMap<string, FakeUser>): ReviewAnswer {
  if (!isRecord(body)) return statusError(400, 'BadRequest', 'the body is not a TokenReview');
  const bad = wrongKind(body, 'authentication.k8s.io/v1', 'TokenReview');
  if (bad) return bad;
  const spec = isRecord(body.spec) ? body.spec : {};
  const token = typeof spec.token === 'string' ? spec.token : '';
  if (token === '')
    return statusError(400, 'BadRequest', 'token is required for TokenReview in authentication');
  const wanted = Array.isArray(spec.audiences) ? spec.audiences.filter((a) => typeof a === 'string') : [];
  const user = identities.get(token);
  const tokenAudiences = user?.audiences ?? DEFAULT_AUDIENCES;
  // Without spec.audiences the API server's own audiences are asked for.
  const asked = wanted.length > 0 ? wanted : DEFAULT_AUDIENCES;
  const audiences = asked.filter((a) => tokenAudiences.includes(a));
  const review = {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    metadata: { creationTimestamp: null },
  };
  if (!user || audiences.length === 0) {
    return {
      code: 201,
      body: {
        ...review,
        spec,
        status: { user: {}, error: user ? 'token audiences do not match' : 'invalid bearer token' },
      },
    };
  }
  return {
    code: 201,
    body: {
      ...review,
      spec,
      status: {
        authenticated: true,
        user: {
          username: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          groups: [...(user.groups ?? []), 'system:authenticated'],
          ...(user.extra ? { extra: user.extra } : {}),
        },
        audiences,
      },
    },
  };
}

const matchesAny = (list: readonly string[] | undefined, value: string): boolean =>
  list === undefined || list.includes('*') || list.includes(value);

function resourceMatches(rule: FakeAccessRule, resource: string, subresource: string): boolean {
  const wanted = subresource ? `${resource}/${subresource}` : resource;
  return (rule.resources ?? []).some(
    (r) => r === '*' || r === wanted || (subresource !== '' && r === `*/${subresource}`),
  );
}

function urlMatches(patterns: readonly string[], path: string): boolean {
  return patterns.some(
    (p) => p === '*' || p === path || (p.endsWith('*') && path.startsWith(p.slice(0, -1))),
  );
}

function bound(rule: FakeAccessRule, user: string, groups: readonly string[]): boolean {
  return (rule.users ?? []).includes(user) || (rule.groups ?? []).some((g) => groups.includes(g));
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function subjectAccessReview(body: unknown, rules: readonly FakeAccessRule[]): ReviewAnswer {
  if (!isRecord(body)) return statusError(400, 'BadRequest', 'the body is not a SubjectAccessReview');
  const bad = wrongKind(body, 'authorization.k8s.io/v1', 'SubjectAccessReview');
  if (bad) return bad;
  const spec = isRecord(body.spec) ? body.spec : {};
  const user = str(spec.user);
  const groups = Array.isArray(spec.groups)
    ? spec.groups.filter((g): g is string => typeof g === 'string')
    : [];
  const ra = isRecord(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
  const nra = isRecord(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined;
  const causes: object[] = [];
  if ((ra === undefined) === (nra === undefined)) {
    causes.push({
      reason: 'FieldValueInvalid',
      message:
        'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
      field: 'spec.resourceAttributes',
    });
  }
  if (user === '' && groups.length === 0) {
    causes.push({
      reason: 'FieldValueInvalid',
      message: 'Invalid value: "": at least one of user or group must be specified',
      field: 'spec.user',
    });
  }
  if (causes.length > 0) {
    return statusError(
      422,
      'Invalid',
      `SubjectAccessReview.authorization.k8s.io "" is invalid: ${causes.map((c) => (c as { field: string; message: string }).field + ': ' + (c as { message: string }).message).join(', ')}`,
      causes,
    );
  }
  const review = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    metadata: { creationTimestamp: null },
    spec,
  };
  if (groups.includes('system:masters')) {
    return { code: 201, body: { ...review, status: { allowed: true, reason: 'system:masters' } } };
  }
  const hit = rules.find((rule) => {
    if (!bound(rule, user, groups)) return false;
    if (nra) {
      // Non-resource rules exist only cluster-wide.
      return (
        rule.namespaces === undefined &&
        matchesAny(rule.verbs, str(nra.verb)) &&
        urlMatches(rule.nonResourceURLs ?? [], str(nra.path))
      );
    }
    const a = ra ?? {};
    const namespace = str(a.namespace);
    const name = str(a.name);
    if (rule.nonResourceURLs !== undefined && rule.resources === undefined) return false;
    if (rule.namespaces !== undefined && (namespace === '' || !rule.namespaces.includes(namespace)))
      return false;
    if (!matchesAny(rule.verbs, str(a.verb))) return false;
    if (!matchesAny(rule.apiGroups ?? [''], str(a.group))) return false;
    if (!resourceMatches(rule, str(a.resource), str(a.subresource))) return false;
    // As in RBAC, a rule naming resources never grants requests without a name (list, create).
    if (rule.resourceNames !== undefined && rule.resourceNames.length > 0) {
      return name !== '' && rule.resourceNames.includes(name);
    }
    return true;
  });
  return {
    code: 201,
    body: {
      ...review,
      status: hit
        ? {
            allowed: true,
            reason: `RBAC: allowed by ${hit.namespaces ? 'RoleBinding' : 'ClusterRoleBinding'} "${hit.name ?? 'fake'}"`,
          }
        : { allowed: false },
    },
  };
}
