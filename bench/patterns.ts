// User include/exclude patterns against hostile tag lists (security review): RE2 keeps every selection
// linear. Each pattern selects among 10,000 tags of 100 characters, sorted so that every tag is
// the best so far and reaches the pattern. Also times admission's compile of the costliest patterns.
// Run: node --import ./bench/register.js bench/patterns.ts   (exit 1 when a median exceeds the limit)
import { pathToFileURL } from 'node:url';
import { compileUserPattern, MAX_PATTERN_LENGTH } from '../shared/regex.ts';
import { findLatestTag } from '../shared/strategy.ts';

/** Measured 0.01-1.9 s on the shared 2-core machine; the limit leaves room for its noise. */
export const SELECT_LIMIT_MS = 3000;
export const COMPILE_LIMIT_MS = 50;

/** The accepted patterns of the security review (backtracking), plus a DFA state explosion near the size cap. */
export const HOSTILE_PATTERNS: readonly string[] = [
  '.*.*.*.*.*.*.*.*x',
  '(.*a){12}$',
  '^(.*\\.){10}x$',
  '(\\d+\\x{3f}?)+$',
  '(a+\\x{75}?)+$',
  '(a|\\.)*a(a|\\.){20}$',
  // A DFA state explosion as large as MAX_PROGRAM_SIZE allows (308 instructions).
  '(a|\\.)*a(a|\\.){100}$',
];

/**
 * `1.0.N+` and build metadata up to 100 characters, in ascending N: each beats the one before.
 * The filler repeats, or is `random` (a and . drawn from a fixed seed): no two tags alike, the
 * worst case for a lazily built DFA.
 */
export function hostileTags(count: number, filler: string): string[] {
  let seed = 42;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Array.from({ length: count }, (_, i) => {
    const head = `1.0.${i + 1}+`;
    const n = 100 - head.length;
    const body =
      filler === 'random'
        ? Array.from({ length: n }, () => (rnd() < 0.5 ? 'a' : '.')).join('')
        : filler.repeat(100).slice(0, n);
    return head + body;
  });
}

interface Figure {
  what: string;
  medianMs: number;
  limitMs: number;
  result: string;
}

function median(times: number[]): number {
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

export function run(repetitions = 5): Figure[] {
  const figures: Figure[] = [];
  for (const filler of ['a', 'a.', '1a.', 'random']) {
    const tags = hostileTags(10_000, filler);
    for (const source of HOSTILE_PATTERNS) {
      const include = compileUserPattern(source);
      const times: number[] = [];
      let result: string | undefined;
      for (let i = 0; i < repetitions; i++) {
        const start = performance.now();
        result = findLatestTag('1.0.0', tags, { strategy: 'ALL', include })?.tag;
        times.push(performance.now() - start);
      }
      figures.push({
        what: `select ${JSON.stringify(source)} over 10,000 x 100 chars of ${JSON.stringify(filler)}`,
        medianMs: median(times),
        limitMs: SELECT_LIMIT_MS,
        result: result === undefined ? '(none)' : result.slice(0, 12),
      });
    }
  }
  // Admission compiles every new pattern: the costliest ones still within the limits.
  const costly = [
    '[\\pL\\pN]{0,250}',
    '(?:\\pL{0,9}){0,50}',
    `${'(?:a|b)'.repeat(Math.floor(MAX_PATTERN_LENGTH / 7))}`,
  ];
  for (const source of costly) {
    const times: number[] = [];
    let result = '';
    for (let i = 0; i < repetitions * 4; i++) {
      const start = performance.now();
      try {
        compileUserPattern(source);
        result = 'accepted';
      } catch {
        result = 'refused';
      }
      times.push(performance.now() - start);
    }
    figures.push({
      what: `compile ${JSON.stringify(source.slice(0, 40))}`,
      medianMs: median(times),
      limitMs: COMPILE_LIMIT_MS,
      result,
    });
  }
  return figures;
}

function main(): void {
  let slow = false;
  for (const f of run()) {
    console.log(
      `patterns ${f.what} -> ${f.result}: median ${f.medianMs.toFixed(1)} ms (limit ${f.limitMs} ms)`,
    );
    if (f.medianMs > f.limitMs) slow = true;
  }
  if (slow) {
    console.error('patterns: a median is above its limit');
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
