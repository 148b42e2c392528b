// Runs the Debian `prometheus-alertmanager` binary for a test, routing every alert to
// one webhook receiver (usually an HTTP server in the test) with no grouping delay.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startDaemon } from './daemon.ts';
import { findProgram } from './programs.ts';

export const ALERTMANAGER_BIN = findProgram('prometheus-alertmanager', {
  envVar: 'ALERTMANAGER_BIN',
});

export interface AlertmanagerOptions {
  /** URL the webhook receiver posts to. */
  webhookUrl: string;
}

export interface Alertmanager {
  readonly url: string;
  /** host:port, for Prometheus' alerting config. */
  readonly address: string;
  output(): string;
  stop(): Promise<void>;
}

/** The alertmanager.yml: one route, one webhook receiver, alerts sent within a second. */
export function alertmanagerConfig(opts: AlertmanagerOptions): string {
  return stringify({
    route: {
      receiver: 'test',
      group_by: ['alertname', 'namespace', 'workload'],
      group_wait: '1s',
      group_interval: '1s',
      repeat_interval: '1h',
    },
    receivers: [{ name: 'test', webhook_configs: [{ url: opts.webhookUrl, send_resolved: false }] }],
  });
}

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<Alertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'iw-alertmanager-'));
  try {
    const configFile = join(dir, 'alertmanager.yml');
    await writeFile(configFile, alertmanagerConfig(opts));
    // Port 0: the port it bound is read back (no window for another process to take it).
    const daemon = await startDaemon({
      name: 'alertmanager',
      command: ALERTMANAGER_BIN,
      args: [
        `--config.file=${configFile}`,
        `--storage.path=${join(dir, 'data')}`,
        '--web.listen-address=127.0.0.1:0',
        // Empty: no gossip cluster, nothing listens besides the API.
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      cwd: dir,
      readyUrl: (port) => `http://127.0.0.1:${port}/-/ready`,
    });
    const address = `127.0.0.1:${daemon.port}`;
    return {
      url: `http://${address}`,
      address,
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
