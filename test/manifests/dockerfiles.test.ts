// The images cannot be built here (no container engine), so their Dockerfiles are
// checked statically against what the build produces.
import t from 'tap';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (comments dropped, continuations joined). */
export function parseDockerfile(text: string): Stage[] {
  const lines = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of lines) {
    const match = /^(\S+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const op = match[1]!.toUpperCase();
    const args = match[2]!;
    if (op === 'FROM') {
      const [from, as, name] = args.split(/\s+/);
      stages.push({ from: from!, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op, args });
    }
  }
  return stages;
}

const tsconfigBuild = JSON.parse(await readFile(`${ROOT}tsconfig.build.json`, 'utf8')) as {
  compilerOptions?: { outDir?: string };
};
const tsconfig = JSON.parse(await readFile(`${ROOT}tsconfig.json`, 'utf8')) as {
  compilerOptions: { outDir: string; rootDir: string };
};
const outDir = tsconfigBuild.compilerOptions?.outDir ?? tsconfig.compilerOptions.outDir;

for (const component of ['webhook', 'watcher']) {
  t.test(`Dockerfile.${component} builds a small non-root Node 24 image`, async (t) => {
    const stages = parseDockerfile(await readFile(`${ROOT}Dockerfile.${component}`, 'utf8'));
    t.ok(stages.length >= 2, 'multi-stage');
    for (const stage of stages)
      t.match(stage.from, /^node:24(\.\d+)*-(alpine|bookworm-slim)/, `${stage.from} is Node 24 LTS`);
    const final = stages.at(-1)!;
    const ops = (stage: Stage, op: string): string[] =>
      stage.instructions.filter((i) => i.op === op).map((i) => i.args);

    const build = stages.find((s) => ops(s, 'RUN').some((r) => r.includes('npm run build')));
    t.ok(build, 'a stage runs npm run build');
    t.ok(
      ops(build!, 'RUN').some((r) => /npm ci\b/.test(r)),
      'the build stage installs exactly the lockfile',
    );
    const deps = stages.find((s) => s !== build && ops(s, 'RUN').some((r) => /npm ci .*--omit=dev/.test(r)));
    t.ok(deps, 'a clean stage installs production dependencies only');
    t.not(final, build, 'the final stage is not the build stage');
    t.notOk(
      ops(final, 'RUN').some((r) => /npm (ci|install)/.test(r) && !r.includes('--omit=dev')),
      'no dev dependencies in the final image',
    );

    const copies = ops(final, 'COPY');
    t.ok(
      copies.some((c) => c.startsWith(`--from=${deps!.name}`) && c.includes('node_modules')),
      'production node_modules copied',
    );
    t.ok(
      copies.some((c) => c.startsWith(`--from=${build!.name}`) && c.includes(`/${outDir}`)),
      `${outDir}/ copied from the build`,
    );
    t.ok(
      copies.some((c) => /^package\.json\b/.test(c)),
      'package.json copied (type: module)',
    );

    const user = ops(final, 'USER').at(-1);
    t.ok(user, 'a USER is set');
    t.notMatch(user ?? 'root', /^(0|root)(:|$)/, 'the user is not root');
    t.match(user ?? '', /^\d+(:\d+)?$/, 'numeric user, so runAsNonRoot can verify it');

    const entrypoint = JSON.parse(ops(final, 'ENTRYPOINT').at(-1) ?? 'null') as string[] | null;
    t.same(entrypoint, ['node', `${outDir}/${component}/main.js`], 'exec-form entrypoint, no shell');
    // tsc maps <rootDir>/<component>/main.ts to <outDir>/<component>/main.js.
    t.equal(tsconfig.compilerOptions.rootDir, '.', 'rootDir keeps the source layout under outDir');
    t.ok(
      existsSync(`${ROOT}${component}/main.ts`),
      `${component}/main.ts exists and compiles to the entrypoint`,
    );
    const sourceCopies = copies.concat(...stages.map((s) => ops(s, 'COPY')));
    for (const dir of ['shared', component])
      t.ok(
        sourceCopies.some((c) => c.startsWith(`${dir} `)),
        `${dir}/ is copied to build`,
      );
  });
}

t.test('.dockerignore keeps local builds and secrets out of the context but not the sources', async (t) => {
  const ignored = (await readFile(`${ROOT}.dockerignore`, 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const entry of ['node_modules', 'dist', '.git', '.env'])
    t.ok(ignored.includes(entry), `${entry} is ignored`);
  for (const needed of [
    'shared',
    'webhook',
    'watcher',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
  ]) {
    t.notOk(ignored.includes(needed), `${needed} stays in the context`);
  }
});

t.test('the Dockerfile parser joins continuations and names stages', (t) => {
  const stages = parseDockerfile(
    '# c\nFROM node:24-alpine AS build\nRUN a \\\n  b\nFROM node:24-alpine\nUSER 1\n',
  );
  t.same(stages, [
    { from: 'node:24-alpine', name: 'build', instructions: [{ op: 'RUN', args: 'a    b' }] },
    { from: 'node:24-alpine', name: undefined, instructions: [{ op: 'USER', args: '1' }] },
  ]);
  t.end();
});
