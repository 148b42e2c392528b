// Open-loop load at a constant rate: one request every 1/rate seconds, evenly spaced, over a pool of
// keep-alive TLS connections, whatever the server's answers. Requests are issued on schedule even
// while earlier ones are outstanding, so a stalled server is charged for every request it delayed.
// autocannon's `overallRate` instead sends each connection's share of a second back to back at the
// start of that second, so its percentiles measure a burst, not the stated rate.
import { Agent, request } from 'node:https';

export interface ConstantRateResult {
  sent: number;
  failed: number;
  /** Achieved rate over the run, requests per second. */
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ConstantRateOptions {
  url: string;
  body: string;
  rate: number;
  seconds: number;
  /** Most requests in flight at once; a request due while all are busy waits (and is charged for it). */
  connections: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export async function constantRate(opts: ConstantRateOptions): Promise<ConstantRateResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections, rejectUnauthorized: false });
  const url = new URL(opts.url);
  const payload = Buffer.from(opts.body);
  const total = Math.round(opts.rate * opts.seconds);
  const interval = 1000 / opts.rate;
  const latencies: number[] = [];
  let failed = 0;
  const pending: Promise<void>[] = [];

  const send = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const sentAt = performance.now();
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': payload.length },
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            latencies.push(performance.now() - sentAt);
            if (res.statusCode !== 200) failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(payload);
    });

  const start = performance.now();
  let next = 0;
  while (next < total) {
    // Send everything due by now, then sleep until the next one is due (timers have ~1 ms grain).
    const now = performance.now();
    for (; next < total && start + next * interval <= now; next++) pending.push(send());
    if (next < total) await new Promise((r) => setTimeout(r, Math.max(0, start + next * interval - now)));
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const round = (x: number): number => Number(x.toFixed(2));
  return {
    sent: total,
    failed,
    rps: Math.round(total / elapsed),
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
  };
}
