import type { ServerLimits } from '../../shared/inbound.ts';

/**
 * The watcher's HTTP port. Bodies are small (no API route takes a JSON body; the approval form
 * is at most 8 KiB), so 16 KiB per request and 1 MiB for all of them together
 * (docs/watcher.md, "Limits"). Answers may wait for a registry (resolve, manual update), so the
 * idle timeout is long; receiving a request is not allowed to be slow.
 */
export const WATCHER_LIMITS: ServerLimits = {
  connectionTimeoutMs: 120_000,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 15_000,
  maxRequestsPerSocket: 1000,
  maxConnections: 512,
  checkIntervalMs: 1_000,
  bodyLimit: 16 * 1024,
  bodyBudget: 1024 * 1024,
};
