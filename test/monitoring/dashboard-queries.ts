// Reads the Grafana dashboard shipped in manifests/monitoring/ and turns its panel
// queries into PromQL a plain Prometheus accepts (Grafana variables substituted).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_FILE = fileURLToPath(
  new URL('../../manifests/monitoring/dashboard.json', import.meta.url),
);

export interface DashboardTarget {
  expr: string;
  legendFormat?: string;
  refId: string;
  instant?: boolean;
  format?: string;
}
export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: DashboardTarget[];
  fieldConfig?: { defaults?: { unit?: string } };
}
export interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

export async function loadDashboard(file: string = DASHBOARD_FILE): Promise<Dashboard> {
  return JSON.parse(await readFile(file, 'utf8')) as Dashboard;
}

export interface Substitutions {
  namespace: string;
  rateInterval: string;
}

/** Grafana's `$namespace` / `$__rate_interval` replaced, as Grafana would before querying. */
export function substitute(expr: string, subs: Substitutions): string {
  return expr
    .replaceAll('$__rate_interval', subs.rateInterval)
    .replaceAll('${namespace}', subs.namespace)
    .replaceAll('$namespace', subs.namespace);
}

export interface PanelQuery {
  panel: DashboardPanel;
  target: DashboardTarget;
  expr: string;
}

export function panelQueries(dashboard: Dashboard, subs: Substitutions): PanelQuery[] {
  return dashboard.panels
    .filter((p) => p.type !== 'row')
    .flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ panel, target, expr: substitute(target.expr, subs) })),
    );
}
