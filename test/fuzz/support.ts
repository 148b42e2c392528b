// Shared by the fuzz targets: fast-check parameters and the regression corpus in test/fixtures/fuzz/.
import { readFileSync } from 'node:fs';
import type { Parameters } from 'fast-check';

/**
 * A new seed every run (more ground covered over time), fixed by FUZZ_SEED to replay one. fast-check
 * prints the seed and the shrunk counterexample's path on failure; each test also prints the seed.
 */
export const SEED =
  process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Math.random() * 2 ** 31) | 0;
/** Fixed run count per property: bounded time in CI. FUZZ_RUNS raises it for a longer local session. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

/** fast-check parameters: the seed, the run count, and corpus entries tried first. */
export function params<T>(examples: readonly T[] = [], runs = RUNS): Parameters<T> {
  return { seed: SEED, numRuns: runs, examples: [...examples] };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** `{"$repeat": ["m", 3000000]}` stands for a long string, so attack inputs of megabytes stay small on disk. */
function expand(value: Json): Json {
  if (Array.isArray(value)) return value.map(expand);
  if (value !== null && typeof value === 'object') {
    const repeat = value.$repeat;
    if (Array.isArray(repeat) && typeof repeat[0] === 'string' && typeof repeat[1] === 'number') {
      return repeat[0].repeat(repeat[1]);
    }
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = expand(v);
    return out;
  }
  return value;
}

const asText = (v: Json): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** Parts of a corpus entry: a string, or a `$repeat` object or `$concat` list of parts. */
function text(value: Json): Json {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Array.isArray(value.$concat)) {
    return value.$concat.map((p) => asText(expand(p))).join('');
  }
  if (Array.isArray(value)) return value.map(text);
  if (value !== null && typeof value === 'object') {
    if ('$repeat' in value) return expand(value);
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = text(v);
    return out;
  }
  return value;
}

/** The `inputs` of test/fixtures/fuzz/<name>.json, with `$repeat`/`$concat` expanded. */
export function corpus<T>(name: string): T[] {
  const file = new URL(`../fixtures/fuzz/${name}.json`, import.meta.url);
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { inputs: Json[] };
  return parsed.inputs.map((entry) => text(entry) as T);
}

/** Raw control characters (C0, DEL, C1): never in a message. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
