// Production bundles: one minified ES module per entry point, written over tsc's emit of the
// same file (dist/webhook/main.js, dist/watcher/main.js, dist/watcher/cli/main.js), so the images,
// `npm run start:*` and the CLI run the bundle. Run after tsc (`npm run build` does both).
// Why: loading client-node's ~1,900 modules one by one keeps their sources and module records
// alive; one tree-shaken, minified file holds far less (figures in docs/deploy.md).
import { build } from 'esbuild';

const entries = ['webhook/main.ts', 'watcher/main.ts', 'watcher/cli/main.ts'];
// `--outdir DIR`: somewhere else than dist/ (bench/watcher.ts bundles into a cache directory).
const at = process.argv.indexOf('--outdir');
const outdir = at > 0 ? process.argv[at + 1] : 'dist';

const result = await build({
  entryPoints: entries,
  outdir,
  outbase: '.',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // Whitespace and syntax only: identifiers keep their names, so `err.name` (new.target.name) and
  // stack traces read as in the source. Not keepNames: its __name() call on every function
  // created cost the webhook ~20 % CPU per request (bench/webhook.ts, CPU ratio 0.66-0.78 vs 0.90).
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  // CommonJS dependencies call require(); an ES module has none of its own.
  banner: {
    js: "import { createRequire as __iwCreateRequire } from 'node:module'; const require = __iwCreateRequire(import.meta.url);",
  },
});
// Quiet like tsc unless asked: `node scripts/bundle.ts --sizes` lists each bundle's size.
if (process.argv.includes('--sizes'))
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (file.endsWith('.js')) process.stdout.write(`${file} ${(out.bytes / 1024).toFixed(0)} KiB\n`);
  }
