// Web links of a Git remote on GitHub and GitLab, for notices and the API.

/** Web URL of a commit on GitHub or GitLab-like hosts, from an https or ssh remote. */
export function commitUrl(repo: string, commit: string): string | undefined {
  const base = webBase(repo);
  if (!base) return undefined;
  return base.host.includes('gitlab') ? `${base.url}/-/commit/${commit}` : `${base.url}/commit/${commit}`;
}

export function webBase(repo: string): { url: string; host: string; path: string } | undefined {
  let host: string;
  let path: string;
  const scp = /^[^@/\s]+@([^:/\s]+):(?!\/\/)(.+)$/.exec(repo);
  if (scp) [host, path] = [scp[1]!, scp[2]!];
  else {
    try {
      const u = new URL(repo);
      [host, path] = [u.host, u.pathname.replace(/^\//, '')];
    } catch {
      return undefined;
    }
  }
  path = path.replace(/\.git$/, '').replace(/\/$/, '');
  if (!/github|gitlab/i.test(host)) return undefined;
  return { url: `https://${host.replace(/:\d+$/, '')}/${path}`, host: host.toLowerCase(), path };
}
