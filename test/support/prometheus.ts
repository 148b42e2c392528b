// Runs the Debian `prometheus` binary for a test: scrapes the given targets every
// second, evaluates the given rules every second, sends alerts to an Alertmanager.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ImageWatcherError } from '../../shared/errors.ts';
import { startDaemon } from './daemon.ts';
import { findProgram } from './programs.ts';

export const PROMETHEUS_BIN = findProgram('prometheus', { envVar: 'PROMETHEUS_BIN' });

export class PromQueryError extends ImageWatcherError {
  constructor(message: string) {
    super('E_TEST_PROMQL', message);
  }
}

export interface ScrapeTarget {
  job: string;
  /** host:port */
  address: string;
  scheme?: 'http' | 'https';
  metricsPath?: string;
}

export interface PrometheusOptions {
  targets: readonly ScrapeTarget[];
  /** Text of a Prometheus rules file. */
  rules?: string;
  /** host:port of an Alertmanager. */
  alertmanager?: string;
  /** Scrape and rule evaluation interval, e.g. '1s'. */
  interval?: string;
}

export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}
export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}
export interface PrometheusAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
}

export interface Prometheus {
  readonly url: string;
  query(expr: string): Promise<InstantSample[]>;
  queryRange(
    expr: string,
    startSeconds: number,
    endSeconds: number,
    stepSeconds: number,
  ): Promise<RangeSeries[]>;
  alerts(): Promise<PrometheusAlert[]>;
  /** Scrape targets as Prometheus sees them (health 'up' | 'down' | 'unknown'). */
  targets(): Promise<{ job: string; health: string; lastError: string }[]>;
  output(): string;
  stop(): Promise<void>;
}

/** The prometheus.yml for these options (exported for the README and tests). */
export function prometheusConfig(opts: PrometheusOptions, ruleFile: string | undefined): string {
  const interval = opts.interval ?? '1s';
  const jobs = new Map<string, ScrapeTarget[]>();
  for (const target of opts.targets) jobs.set(target.job, [...(jobs.get(target.job) ?? []), target]);
  return stringify({
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    ...(ruleFile ? { rule_files: [ruleFile] } : {}),
    ...(opts.alertmanager
      ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [opts.alertmanager] }] }] } }
      : {}),
    scrape_configs: [...jobs].map(([job, targets]) => ({
      job_name: job,
      // As in the ServiceMonitor: keep the metrics' own namespace/container labels.
      honor_labels: true,
      scheme: targets[0]?.scheme ?? 'http',
      metrics_path: targets[0]?.metricsPath ?? '/metrics',
      tls_config: { insecure_skip_verify: true },
      static_configs: [{ targets: targets.map((t) => t.address) }],
    })),
  });
}

async function api<T>(base: string, path: string, params: Record<string, string>): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    body: new URLSearchParams(params),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') {
    throw new PromQueryError(
      `Prometheus ${path} ${JSON.stringify(params)} failed: ${body.error ?? res.status}`,
    );
  }
  return body.data;
}

/** The query side of the HTTP API of any Prometheus at `url`. */
export function queryApi(url: string): Omit<Prometheus, 'output' | 'stop'> {
  return {
    url,
    query: (expr) =>
      api<{ resultType: string; result: InstantSample[] }>(url, '/api/v1/query', { query: expr }).then(
        (d) => d.result,
      ),
    queryRange: (expr, start, end, step) =>
      api<{ result: RangeSeries[] }>(url, '/api/v1/query_range', {
        query: expr,
        start: String(start),
        end: String(end),
        step: String(step),
      }).then((d) => d.result),
    alerts: async () => {
      const res = await fetch(`${url}/api/v1/alerts`, { signal: AbortSignal.timeout(5000) });
      return ((await res.json()) as { data: { alerts: PrometheusAlert[] } }).data.alerts;
    },
    targets: async () => {
      const res = await fetch(`${url}/api/v1/targets`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as {
        data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
      };
      return body.data.activeTargets.map((t) => ({
        job: t.labels.job ?? '',
        health: t.health,
        lastError: t.lastError,
      }));
    },
  };
}

export async function startPrometheus(opts: PrometheusOptions): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'iw-prometheus-'));
  try {
    const ruleFile = opts.rules === undefined ? undefined : join(dir, 'rules.yaml');
    if (ruleFile && opts.rules !== undefined) await writeFile(ruleFile, opts.rules);
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, prometheusConfig(opts, ruleFile));
    // Port 0: the port it bound is read back (no window for another process to take it).
    const daemon = await startDaemon({
      name: 'prometheus',
      command: PROMETHEUS_BIN,
      args: [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        '--web.listen-address=127.0.0.1:0',
        '--storage.tsdb.retention.time=1h',
        // Send firing alerts again quickly, so a test does not wait a minute.
        '--rules.alert.resend-delay=1s',
        '--log.level=warn',
      ],
      cwd: dir,
      readyUrl: (port) => `http://127.0.0.1:${port}/-/ready`,
    });
    const url = `http://127.0.0.1:${daemon.port}`;
    return {
      ...queryApi(url),
      output: () => daemon.output(),
      stop: async () => {
        await daemon.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
