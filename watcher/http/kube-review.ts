// TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1)
// through client-node: the watcher's service account needs `create` on both (manifests).
import * as k8s from '@kubernetes/client-node';
import type { IdentityReviewer, KubeUser, ResourceAccess } from './access.ts';
import { API_GROUP } from './access.ts';

export interface KubeReviewerOptions {
  kubeConfig: k8s.KubeConfig;
  /** Audiences the token must be for; empty: the API server's own. */
  audiences?: string[];
}

export function kubeIdentityReviewer(opts: KubeReviewerOptions): IdentityReviewer {
  const authn = opts.kubeConfig.makeApiClient(k8s.AuthenticationV1Api);
  const authz = opts.kubeConfig.makeApiClient(k8s.AuthorizationV1Api);
  return {
    async reviewToken(token: string): Promise<KubeUser | undefined> {
      const review = await authn.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, ...(opts.audiences?.length ? { audiences: opts.audiences } : {}) },
        },
      });
      const s = review.status;
      if (s?.authenticated !== true || !s.user?.username) return undefined;
      // A token for other audiences authenticates, but not for us.
      if (opts.audiences?.length && !opts.audiences.some((a) => s.audiences?.includes(a))) return undefined;
      return {
        username: s.user.username,
        uid: s.user.uid,
        groups: s.user.groups ?? [],
        extra: s.user.extra,
      };
    },
    async reviewAccess(user: KubeUser, access: ResourceAccess): Promise<boolean> {
      const review = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            ...(user.uid ? { uid: user.uid } : {}),
            groups: user.groups,
            ...(user.extra ? { extra: user.extra } : {}),
            resourceAttributes: {
              group: API_GROUP,
              version: 'v1',
              resource: access.resource,
              verb: access.verb,
              ...(access.namespace !== undefined ? { namespace: access.namespace } : {}),
              ...(access.name !== undefined ? { name: access.name } : {}),
            },
          },
        },
      });
      return review.status?.allowed === true && review.status.denied !== true;
    },
  };
}
