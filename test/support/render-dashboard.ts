// Renders the shipped Grafana dashboard (manifests/monitoring/dashboard.json) from live
// Prometheus data in headless Chromium and saves docs/dashboard.png. Grafana itself is
// not installable here, so this draws each panel (time series, stat, table) as SVG/HTML.
// Run by hand (not in CI), from the repository root:
//   node --import ./bench/register.js test/support/render-dashboard.ts [seconds]
// It starts the end-to-end stack (test/e2e/stack.ts), lets it run, then renders; or set
// PROMETHEUS_URL to render from a Prometheus that already has image-watcher data.
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
  loadDashboard,
  substitute,
  type Dashboard,
  type DashboardPanel,
} from '../monitoring/dashboard-queries.ts';
import { findProgram } from './programs.ts';

export const CHROMIUM = findProgram('chromium', { envVar: 'CHROMIUM' });
const OUT = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));
const WIDTH = 1600;
const ROW_HEIGHT = 30;
const COLORS = [
  '#73bf69',
  '#f2cc0c',
  '#8ab8ff',
  '#ff780a',
  '#f2495c',
  '#5794f2',
  '#b877d9',
  '#fade2a',
  '#96d98d',
  '#ffa6b0',
];

interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}
export interface PanelData {
  panel: DashboardPanel;
  /** One entry per target, in target order. */
  series: { legend: string; values: [number, number][] }[];
  /** Instant table rows (table panels). */
  rows: Record<string, string>[];
}
export interface QueryApi {
  queryRange(expr: string, start: number, end: number, step: number): Promise<Series[]>;
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function legendOf(format: string | undefined, metric: Record<string, string>): string {
  if (!format)
    return (
      Object.entries(metric)
        .map(([k, v]) => `${k}="${v}"`)
        .join(', ') || 'value'
    );
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => metric[name] ?? '');
}

export function formatValue(value: number, unit: string | undefined): string {
  if (!Number.isFinite(value)) return '–';
  const fixed = (n: number): string =>
    Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
  switch (unit) {
    case 's':
      if (value >= 3600) return `${fixed(value / 3600)} h`;
      if (value >= 60) return `${fixed(value / 60)} min`;
      if (value >= 1) return `${fixed(value)} s`;
      return `${fixed(value * 1000)} ms`;
    case 'bytes':
      return value >= 1024 * 1024 ? `${fixed(value / 1024 / 1024)} MiB` : `${fixed(value / 1024)} KiB`;
    case 'reqps':
      return `${fixed(value)} req/s`;
    case 'percentunit':
      return `${fixed(value * 100)}%`;
    default:
      return Number.isInteger(value) ? String(value) : fixed(value);
  }
}

export async function collect(
  api: QueryApi,
  dashboard: Dashboard,
  range: { start: number; end: number; step: number },
): Promise<PanelData[]> {
  const out: PanelData[] = [];
  for (const panel of dashboard.panels) {
    const data: PanelData = { panel, series: [], rows: [] };
    for (const target of panel.targets ?? []) {
      const expr = substitute(target.expr, { namespace: '.*', rateInterval: '30s' });
      if (panel.type === 'table') {
        for (const sample of await api.query(expr)) data.rows.push(sample.metric);
        continue;
      }
      for (const s of await api.queryRange(expr, range.start, range.end, range.step)) {
        data.series.push({
          legend: legendOf(target.legendFormat, s.metric),
          values: s.values.map(([ts, v]) => [ts, Number(v)]),
        });
      }
    }
    out.push(data);
  }
  return out;
}

function timeseriesSvg(d: PanelData, w: number, h: number, range: { start: number; end: number }): string {
  const unit = d.panel.fieldConfig?.defaults?.unit;
  const bars =
    (d.panel.fieldConfig?.defaults as { custom?: { drawStyle?: string } } | undefined)?.custom?.drawStyle ===
    'bars';
  const left = 70;
  const bottom = 20;
  const plotW = w - left - 10;
  const plotH = h - bottom - 8;
  const finite = d.series.flatMap((s) => s.values.map(([, v]) => v)).filter(Number.isFinite);
  const max = Math.max(...finite, 0) || 1;
  const x = (ts: number): number => left + ((ts - range.start) / (range.end - range.start || 1)) * plotW;
  const y = (v: number): number => 8 + plotH - (v / max) * plotH;
  const parts: string[] = [];
  for (const frac of [0, 0.5, 1]) {
    const yy = y(max * frac);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${yy}" y2="${yy}" stroke="#2c3235"/>`);
    parts.push(
      `<text x="${left - 6}" y="${yy + 4}" text-anchor="end">${escapeHtml(formatValue(max * frac, unit))}</text>`,
    );
  }
  for (const frac of [0, 0.5, 1]) {
    const ts = range.start + (range.end - range.start) * frac;
    const label = new Date(ts * 1000).toISOString().slice(11, 19);
    parts.push(
      `<text x="${x(ts)}" y="${h - 4}" text-anchor="${frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle'}">${label}</text>`,
    );
  }
  d.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const points = s.values.filter(([, v]) => Number.isFinite(v));
    if (bars) {
      const bw = Math.max(1, plotW / Math.max(1, s.values.length) / Math.max(1, d.series.length));
      for (const [ts, v] of points) {
        parts.push(
          `<rect x="${x(ts) + i * bw}" y="${y(v)}" width="${bw}" height="${8 + plotH - y(v)}" fill="${color}" fill-opacity="0.8"/>`,
        );
      }
    } else if (points.length > 0) {
      const path = points
        .map(([ts, v], j) => `${j === 0 ? 'M' : 'L'}${x(ts).toFixed(1)},${y(v).toFixed(1)}`)
        .join('');
      parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    }
  });
  return `<svg width="${w}" height="${h}" font-size="11" fill="#9fa7b3">${parts.join('')}</svg>`;
}

function panelHtml(d: PanelData, range: { start: number; end: number }): string {
  const { gridPos } = d.panel;
  const colW = WIDTH / 24;
  const style = `left:${gridPos.x * colW}px;top:${gridPos.y * ROW_HEIGHT}px;width:${gridPos.w * colW - 8}px;height:${gridPos.h * ROW_HEIGHT - 8}px`;
  if (d.panel.type === 'row') {
    return `<div class="row" style="${style}">${escapeHtml(d.panel.title)}</div>`;
  }
  const w = gridPos.w * colW - 8 - 16;
  const h = gridPos.h * ROW_HEIGHT - 8 - 36;
  const unit = d.panel.fieldConfig?.defaults?.unit;
  let body: string;
  if (d.panel.type === 'stat') {
    const items = d.series.map((s, i) => {
      const last = [...s.values].reverse().find(([, v]) => Number.isFinite(v));
      const color = COLORS[i % COLORS.length]!;
      return `<div class="stat"><div class="big" style="color:${color}">${escapeHtml(formatValue(last?.[1] ?? NaN, unit))}</div><div class="label">${escapeHtml(s.legend)}</div></div>`;
    });
    body = `<div class="stats">${items.join('') || '<div class="nodata">No data</div>'}</div>`;
  } else if (d.panel.type === 'table') {
    const columns = [...new Set(d.rows.flatMap((r) => Object.keys(r)))].filter((c) => c !== '__name__');
    const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
    const rows = d.rows
      .map((r) => `<tr>${columns.map((c) => `<td>${escapeHtml(r[c] ?? '')}</td>`).join('')}</tr>`)
      .join('');
    body = d.rows.length ? `<table><tr>${head}</tr>${rows}</table>` : '<div class="nodata">No data</div>';
  } else {
    const legend = d.series
      .map(
        (s, i) =>
          `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${escapeHtml(s.legend)}</span>`,
      )
      .join('');
    body = d.series.length
      ? `${timeseriesSvg(d, w, h - 20, range)}<div class="legend">${legend}</div>`
      : '<div class="nodata">No data</div>';
  }
  return `<div class="panel" style="${style}"><div class="title">${escapeHtml(d.panel.title)}</div>${body}</div>`;
}

export function dashboardHtml(
  dashboard: Dashboard,
  data: PanelData[],
  range: { start: number; end: number },
): string {
  const height = Math.max(...dashboard.panels.map((p) => (p.gridPos.y + p.gridPos.h) * ROW_HEIGHT)) + 60;
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:13px system-ui,-apple-system,"Segoe UI",sans-serif}
header{height:44px;display:flex;align-items:center;gap:16px;padding:0 12px;font-size:16px}
header small{color:#9fa7b3;font-size:12px}
.grid{position:relative;width:${WIDTH}px;height:${height}px;margin:0 8px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:6px 8px;box-sizing:border-box;overflow:hidden}
.row{position:absolute;font-size:15px;font-weight:500;padding-top:6px}
.title{font-weight:500;margin-bottom:6px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.stats{display:flex;gap:18px;align-items:center;justify-content:center;height:calc(100% - 24px)}
.stat{text-align:center}.big{font-size:34px;font-weight:500}.label{color:#9fa7b3;font-size:12px}
.legend{font-size:11px;color:#ccccdc;display:flex;flex-wrap:wrap;gap:4px 12px}
.legend i{display:inline-block;width:12px;height:3px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;width:100%;font-size:12px}th{text-align:left;color:#6e9fff;border-bottom:1px solid #2c3235;padding:4px}
td{padding:4px;border-bottom:1px solid #202226}.nodata{color:#9fa7b3;text-align:center;margin-top:30px}
</style></head><body><header>${escapeHtml(dashboard.title)} <small>Namespace: All · ${new Date(range.start * 1000).toISOString().slice(11, 19)}–${new Date(range.end * 1000).toISOString().slice(11, 19)} UTC · rendered from Prometheus data</small></header>
<div class="grid">${data.map((d) => panelHtml(d, range)).join('')}</div></body></html>`;
}

export async function screenshot(html: string, file: string): Promise<void> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: WIDTH + 16, height: 900 } });
    // No network: the page has no external assets.
    await page.route('**/*', (route) => route.abort());
    await page.setContent(html);
    await page.screenshot({ path: file, fullPage: true });
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 90);
  const dashboard = await loadDashboard();
  let api: QueryApi;
  let stop = (): Promise<void> => Promise.resolve();
  const start = Date.now() / 1000;
  if (process.env.PROMETHEUS_URL) {
    const { queryApi } = await import('./prometheus.ts');
    api = queryApi(process.env.PROMETHEUS_URL);
  } else {
    const { startStack } = await import('../e2e/stack.ts');
    const stack = await startStack({
      log: (line) => console.log(line),
    });
    stop = () => stack.stop();
    api = stack.prometheus;
    console.log(`collecting data for ${seconds} s`);
    // A new minor version every 20 s: the watcher updates and notifies again, so the
    // update and notification panels show more than the first check.
    for (let elapsed = 0, minor = 3; elapsed < seconds; elapsed += 20, minor++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(20, seconds - elapsed) * 1000));
      if (elapsed + 20 < seconds) await stack.pushTag(`1.${minor}.0`);
    }
  }
  try {
    const end = Date.now() / 1000;
    const range = { start: process.env.PROMETHEUS_URL ? end - 3600 : start, end };
    const data = await collect(api, dashboard, {
      ...range,
      step: Math.max(1, Math.round((range.end - range.start) / 200)),
    });
    await screenshot(dashboardHtml(dashboard, data, range), OUT);
    console.log(`wrote ${OUT}`);
  } finally {
    await stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
