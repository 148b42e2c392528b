// Test helpers for the notify tests: a local HTTP server that records every request and answers
// from a script, and notices named after their scenario.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { UpdateNotice } from '../../../watcher/notify/types.ts';

export interface Captured {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the server answers, in order; the last entry repeats. `hang` never answers. */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  hang?: boolean;
}

export interface CaptureServer {
  url: string;
  requests: Captured[];
  close(): Promise<void>;
}

export async function startCapture(replies: Reply[] = [{ status: 200, body: 'ok' }]): Promise<CaptureServer> {
  const requests: Captured[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const reply = replies[Math.min(requests.length - 1, replies.length - 1)] ?? {};
      if (reply.hang) {
        hanging.push(res);
        return;
      }
      res.writeHead(reply.status ?? 200, reply.headers ?? {});
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function availableNotice(overrides: Partial<UpdateNotice> = {}): UpdateNotice {
  return {
    event: 'available',
    workload: { kind: 'Deployment', namespace: 'shop', name: 'web' },
    container: 'nginx',
    image: 'docker.io/library/nginx:1.25.3',
    currentVersion: '1.25.3',
    newVersion: '1.26.0',
    change: 'minor',
    releaseNotes: {
      url: 'https://github.com/nginx/nginx/releases/tag/release-1.26.0',
      summary: 'Stable branch 1.26: HTTP/3 support is no longer experimental.',
    },
    approvalUrl: 'https://watcher.example.com/approve/shop/Deployment/web?v=1.26.0&exp=1800000000&sig=abc',
    ...overrides,
  };
}

export function failedNotice(overrides: Partial<UpdateNotice> = {}): UpdateNotice {
  return {
    event: 'failed',
    workload: { kind: 'StatefulSet', namespace: 'data', name: 'redis' },
    container: 'redis',
    image: 'docker.io/library/redis:7.2.4',
    currentVersion: '7.2.4',
    newVersion: '7.2.5',
    change: 'patch',
    detail: 'rollout did not finish within 10m: 0 of 3 replicas updated',
    ...overrides,
  };
}

/** `count` distinct 'available' notices, as when a registry publishes many tags at once. */
export function manyNotices(count: number): UpdateNotice[] {
  return Array.from({ length: count }, (_, i) =>
    availableNotice({
      workload: { kind: 'Deployment', namespace: 'shop', name: `svc-${i}` },
      approvalUrl: `https://watcher.example.com/approve/shop/Deployment/svc-${i}?v=1.26.0&exp=1800000000&sig=s${i}`,
    }),
  );
}
