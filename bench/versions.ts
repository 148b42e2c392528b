// Picking the newest allowed tag out of 10,000 realistic tags, for every strategy.
// Run: node --import ./bench/register.js bench/versions.ts   (exit 1 when a median exceeds 50 ms)
import { pathToFileURL } from 'node:url';
import { STRATEGIES, findLatestTag } from '../shared/strategy.ts';
import { compareTags, parseTag } from '../shared/version.ts';
import type { Strategy } from '../shared/strategy.ts';

export interface VersionsFigure {
  strategy: Strategy;
  current: string;
  /** 'shuffled' as registries return them, or 'ascending' (oldest first: the worst case for pruning). */
  order: 'shuffled' | 'ascending';
  tags: number;
  repetitions: number;
  medianMs: number;
  p95Ms: number;
  opsPerSec: number;
  latest: string | undefined;
}

export interface VersionsOptions {
  tags?: number;
  repetitions?: number;
  warmup?: number;
}

export const MEDIAN_LIMIT_MS = 50;
/** A plain tag (nearly every tag must be parsed) and a variant tag (most are rejected before parsing). */
export const CURRENT_TAGS: readonly string[] = ['12.4.3', '12.4.3-alpine'];

const VARIANTS = [
  '',
  '-alpine',
  '-alpine3.19',
  '-alpine3.20',
  '-bookworm',
  '-bookworm-slim',
  '-slim',
  '-bullseye',
];
const PRERELEASES = ['-rc1', '-rc2', '-beta1', '-alpha.3'];

/** Small deterministic PRNG (mulberry32) so every run measures the same list. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A busy repository's tag list: full versions in many variants, floating two- and one-part tags,
 * prereleases, channels, cosign signatures and CI build tags, shuffled as registries do not sort.
 */
export function realisticTags(count: number, seed = 42): string[] {
  const rnd = random(seed);
  const tags = new Set<string>([
    'latest',
    'stable',
    'alpine',
    'slim',
    'lts',
    'lts-alpine',
    'edge',
    'buildcache',
  ]);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  while (tags.size < count) {
    const major = Math.floor(rnd() * 25);
    const minor = Math.floor(rnd() * 30);
    const patch = Math.floor(rnd() * 20);
    const kind = rnd();
    if (kind < 0.6) tags.add(`${major}.${minor}.${patch}${pick(VARIANTS)}`);
    else if (kind < 0.7) tags.add(`${major}.${minor}${pick(VARIANTS)}`);
    else if (kind < 0.74) tags.add(`${major}${pick(VARIANTS)}`);
    else if (kind < 0.82) tags.add(`${major}.${minor}.${patch}${pick(PRERELEASES)}${pick(VARIANTS)}`);
    else if (kind < 0.9)
      tags.add(
        `sha256-${Math.floor(rnd() * 2 ** 52)
          .toString(16)
          .padStart(64, 'a')}.sig`,
      );
    else if (kind < 0.95)
      tags.add(`pr-${Math.floor(rnd() * 5000)}-${Math.floor(rnd() * 2 ** 28).toString(16)}`);
    else tags.add(`${major}.${minor}.${patch}-debian-12-r${Math.floor(rnd() * 40)}`);
  }
  const list = [...tags];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Versions oldest first, non-versions at the start: every candidate beats the previous best. */
function ascendingOrder(tags: readonly string[]): string[] {
  const parsed = tags.map((raw) => ({ raw, v: parseTag(raw) }));
  parsed.sort((a, b) => {
    if (a.v === undefined || b.v === undefined)
      return (a.v === undefined ? 0 : 1) - (b.v === undefined ? 0 : 1);
    return compareTags(a.v, b.v);
  });
  return parsed.map((p) => p.raw);
}

/** Measures findLatestTag over the list once per repetition and strategy. */
export function run(opts: VersionsOptions = {}): VersionsFigure[] {
  const count = opts.tags ?? 10_000;
  const repetitions = opts.repetitions ?? 100;
  const warmup = opts.warmup ?? 10;
  const shuffled = realisticTags(count);
  const ascending = ascendingOrder(shuffled);
  const figures: VersionsFigure[] = [];
  for (const [order, tags] of [
    ['shuffled', shuffled],
    ['ascending', ascending],
  ] as const) {
    for (const current of CURRENT_TAGS) {
      for (const strategy of STRATEGIES) {
        let latest: string | undefined;
        for (let i = 0; i < warmup; i++) latest = findLatestTag(current, tags, { strategy })?.tag;
        const times: number[] = [];
        for (let i = 0; i < repetitions; i++) {
          const start = performance.now();
          latest = findLatestTag(current, tags, { strategy })?.tag;
          times.push(performance.now() - start);
        }
        times.sort((a, b) => a - b);
        const medianMs = percentile(times, 50);
        figures.push({
          strategy,
          current,
          order,
          tags: count,
          repetitions,
          medianMs,
          p95Ms: percentile(times, 95),
          opsPerSec: 1000 / medianMs,
          latest,
        });
      }
    }
  }
  return figures;
}

function main(): void {
  const figures = run();
  let slow = false;
  for (const f of figures) {
    console.log(
      `versions ${f.strategy.padEnd(5)} ${f.tags} ${f.order.padEnd(9)} tags from ${f.current.padEnd(13)} ` +
        `-> ${(f.latest ?? '(none)').padEnd(15)}: ` +
        `median ${f.medianMs.toFixed(2)} ms, p95 ${f.p95Ms.toFixed(2)} ms, ${Math.round(f.opsPerSec)} ops/s ` +
        `(${f.repetitions} runs)`,
    );
    if (f.medianMs > MEDIAN_LIMIT_MS) slow = true;
  }
  if (slow) {
    console.error(`versions: a median is above ${MEDIAN_LIMIT_MS} ms`);
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
