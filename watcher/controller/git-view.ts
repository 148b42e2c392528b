// Pure views of a workload's Git record, for the API and notices.
import { ANNOTATIONS } from '../../shared/annotations.ts';
import { safeUrl } from '../gitops/git.ts';
import { parseGitPending } from '../gitops/state.ts';
import type { WorkloadSnapshot } from '../kube/types.ts';
import type { GitWriteView } from './state.ts';

/** The Git record of a snapshot, for the API. */
export function gitViewOf(w: WorkloadSnapshot): GitWriteView | undefined {
  const v = w.annotations[ANNOTATIONS.gitPending];
  if (v === undefined) return undefined;
  const p = parseGitPending(v);
  if (!p.ok) return undefined;
  const { repo, branch, commit, url } = p.pending;
  return { repo: safeUrl(repo), branch, commit, url, pending: true };
}

/** The link a person follows: the commit or pull request page, else repository, branch and commit. */
export function gitLink(g: {
  repo: string;
  branch?: string | undefined;
  commit?: string | undefined;
  url?: string | undefined;
}): string {
  if (g.url) return g.url;
  return `${safeUrl(g.repo)}${g.branch ? ` ${g.branch}` : ''}${g.commit ? ` ${g.commit.slice(0, 12)}` : ''}`;
}
