// The Dockerfiles checked statically against what the build produces; test/images builds and
// runs them.
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
  platform: string | undefined;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (comments dropped, continuations joined). */
export function parseDockerfile(text: string): Stage[] & { globalArgs: Instruction[] } {
  const lines = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  const args: Instruction[] = [];
  for (const line of lines) {
    const match = /^(\S+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const op = match[1]!.toUpperCase();
    const rest = match[2]!;
    if (op === 'FROM') {
      const words = rest.split(/\s+/);
      const platform = words[0]?.startsWith('--platform=')
        ? words.shift()!.slice('--platform='.length)
        : undefined;
      const [from, as, name] = words;
      stages.push({
        from: from!,
        platform,
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        instructions: [],
      });
    } else if (stages.length === 0) {
      args.push({ op, args: rest });
    } else {
      stages.at(-1)!.instructions.push({ op, args: rest });
    }
  }
  return Object.assign(stages, { globalArgs: args });
}

/** `ARG NAME=default` lines before the first FROM. */
function globalArg(stages: Stage[], name: string): string | undefined {
  const line = (stages as Stage[] & { globalArgs: Instruction[] }).globalArgs.find((a) =>
    a.args.startsWith(`${name}=`),
  );
  return line?.args.slice(name.length + 1);
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
    t.match(
      globalArg(stages, 'NODE_IMAGE'),
      /^docker\.io\/library\/node:24(\.\d+)*-bookworm-slim$/,
      'NODE_IMAGE defaults to the official Debian slim Node 24 image',
    );
    t.match(
      globalArg(stages, 'RUNTIME_IMAGE'),
      /^gcr\.io\/distroless\/cc-debian12(:\w+)?$/,
      'RUNTIME_IMAGE defaults to distroless cc (glibc, libstdc++, CA certificates; no shell)',
    );
    // The default target is the last stage, or the stage it only names (Dockerfile.watcher ends
    // with `FROM watcher` after its `git` target, which is FROM that runtime stage too).
    const last = stages.at(-1)!;
    const final = (last.instructions.length === 0 && stages.find((s) => s.name === last.from)) || last;
    const variants = stages.filter((s) => s !== last && s.from === final.name);
    const resolved = (from: string): string =>
      /^\$\{(\w+)\}$/.test(from) && globalArg(stages, from.slice(2, -1))?.startsWith('${')
        ? globalArg(stages, from.slice(2, -1))!
        : from;
    for (const stage of stages)
      if (stage !== final && stage !== last && !variants.includes(stage))
        t.equal(resolved(stage.from), '${NODE_IMAGE}', 'every stage but the runtime is FROM NODE_IMAGE');
    t.equal(final.from, '${RUNTIME_IMAGE}', 'the runtime stage is FROM RUNTIME_IMAGE');
    t.equal(final.platform, undefined, 'the runtime stage is built for the target platform');
    const ops = (stage: Stage, op: string): string[] =>
      stage.instructions.filter((i) => i.op === op).map((i) => i.args);

    const build = stages.find((s) => ops(s, 'RUN').some((r) => r.includes('npm run build')));
    t.ok(build, 'a stage runs npm run build');
    t.ok(
      ops(build!, 'RUN').some((r) => /npm ci\b/.test(r)),
      'the build stage installs exactly the lockfile',
    );
    t.not(final, build, 'the final stage is not the build stage');
    t.same(ops(final, 'RUN'), [], 'nothing runs in the runtime stage (it has no shell)');

    const copies = ops(final, 'COPY');
    const nodeStage = stages.find((s) => s !== build && s !== final && s.platform === undefined);
    t.ok(nodeStage, 'a NODE_IMAGE stage for the target platform');
    t.ok(
      copies.some((c) => c === `--from=${nodeStage!.name} /usr/local/bin/node /usr/local/bin/node`),
      'only the node binary comes from NODE_IMAGE (no npm, corepack, yarn)',
    );
    t.notOk(
      copies.some((c) => c.includes('node_modules')),
      'no node_modules: the bundle holds what it uses',
    );
    t.ok(
      copies.some(
        (c) => c.startsWith(`--from=${build!.name}`) && c.includes(`/app/${outDir}/${component}/main.js `),
      ),
      `the ${component} bundle copied from the build`,
    );
    t.ok(
      copies.some((c) => /^package\.json\b/.test(c)),
      'package.json copied (type: module)',
    );
    t.ok(
      ops(build!, 'COPY').some((c) => c.startsWith('scripts/bundle.ts ')),
      'the bundler is copied to the build stage',
    );

    const labels = ops(final, 'LABEL').join(' ');
    for (const label of ['source', 'version', 'revision', 'licenses'])
      t.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${label}=`), `OCI label ${label}`);
    t.match(labels, /image\.version="\$\{VERSION\}"/, 'version from the VERSION build argument');
    t.match(labels, /image\.revision="\$\{REVISION\}"/, 'revision from the REVISION build argument');

    const user = ops(final, 'USER').at(-1);
    t.ok(user, 'a USER is set');
    t.equal(user, '10001:10001', 'uid 10001, as runAsUser in the manifests');
    t.match(user ?? '', /^\d+(:\d+)?$/, 'numeric user, so runAsNonRoot can verify it');

    const entrypoint = JSON.parse(ops(final, 'ENTRYPOINT').at(-1) ?? 'null') as string[] | null;
    t.equal(entrypoint?.[0], 'node', 'exec-form entrypoint, no shell');
    t.equal(entrypoint?.at(-1), `${outDir}/${component}/main.js`, 'runs the bundle');
    t.ok(
      entrypoint?.slice(1, -1).every((f) => /^--[a-z-]+$/.test(f)),
      'anything between is a node flag',
    );
    const pkgJson = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as {
      scripts: Record<string, string>;
    };
    t.equal(
      pkgJson.scripts[`start:${component}`],
      entrypoint?.join(' '),
      `npm run start:${component} runs what the image runs`,
    );
    // tsc and scripts/bundle.ts map <component>/main.ts to <outDir>/<component>/main.js.
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

t.test('Dockerfile.watcher target git: the runtime plus the git files, nothing run in it', async (t) => {
  const stages = parseDockerfile(await readFile(`${ROOT}Dockerfile.watcher`, 'utf8'));
  const git = stages.find((s) => s.name === 'git');
  const files = stages.find((s) => s.name === 'git-files');
  t.ok(git && files, 'stages git and git-files');
  t.equal(stages.at(-1)!.from, git!.from, 'the default target is the same runtime stage, without git');
  t.same(
    git!.instructions.map((i) => i.op),
    ['COPY', 'LABEL'],
    'git adds files and labels only (no RUN: no shell)',
  );
  t.equal(git!.instructions[0]!.args, '--from=git-files /git-files/ /');
  t.equal(files!.from, '${GIT_FILES_IMAGE}');
  t.equal(globalArg(stages, 'GIT_FILES_IMAGE'), '${NODE_IMAGE}', 'by default from NODE_IMAGE with apt');
  const run = files!.instructions
    .filter((i) => i.op === 'RUN')
    .map((i) => i.args)
    .join(' ');
  t.match(run, /apt-get install .*--no-install-recommends git openssh-client/);
  t.match(run, /git-closure\.sh \/ \/git-files/, 'the closure script of scripts/images.sh');
  t.ok(existsSync(`${ROOT}scripts/git-closure.sh`));
  const ignored = await readFile(`${ROOT}.dockerignore`, 'utf8');
  t.match(ignored, /^!scripts\/git-closure\.sh$/m, 'the closure script stays in the context');
});

t.test('both Dockerfiles strip the node binary the same way, in the node stage', async (t) => {
  const nodeStage = async (component: string): Promise<Stage | undefined> =>
    parseDockerfile(await readFile(`${ROOT}Dockerfile.${component}`, 'utf8')).find((s) => s.name === 'node');
  const webhook = await nodeStage('webhook');
  const watcher = await nodeStage('watcher');
  t.ok(webhook && watcher, 'a stage named node in each');
  t.same(webhook, watcher, 'the same stage, instruction for instruction');
  t.equal(webhook!.from, '${NODE_IMAGE}', 'FROM NODE_IMAGE');
  t.equal(webhook!.platform, undefined, 'for the target platform');
  t.same(
    webhook!.instructions.map((i) => `${i.op} ${i.args}`),
    [
      'COPY scripts/strip-node.sh /usr/local/lib/image-watcher/strip-node.sh',
      'RUN sh /usr/local/lib/image-watcher/strip-node.sh /usr/local/bin/node',
    ],
    'it runs scripts/strip-node.sh on the binary the runtime copies',
  );
  const script = await readFile(`${ROOT}scripts/strip-node.sh`, 'utf8');
  t.match(script, /strip --strip-unneeded "\$node"/, 'strips what a binary does not need to run');
  t.match(script, /apt-get install .*binutils/, 'installs binutils where NODE_IMAGE has no strip');
  const ignored = await readFile(`${ROOT}.dockerignore`, 'utf8');
  t.match(ignored, /^!scripts\/strip-node\.sh$/m, 'the script stays in the context');
  const images = await readFile(`${ROOT}scripts/images.sh`, 'utf8');
  t.match(images, /--include=ca-certificates,binutils /, "CI's offline base has strip");
});

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
  t.ok(ignored.includes('!scripts/bundle.ts'), 'the bundler stays in the context (scripts/ does not)');
});

t.test('the Dockerfile parser joins continuations and names stages', (t) => {
  const stages = parseDockerfile(
    '# c\nARG X=1\nFROM --platform=$BUILDPLATFORM n:24 AS build\nRUN a \\\n  b\nFROM n:24\nUSER 1\n',
  );
  t.same(
    [...stages],
    [
      {
        from: 'n:24',
        platform: '$BUILDPLATFORM',
        name: 'build',
        instructions: [{ op: 'RUN', args: 'a    b' }],
      },
      { from: 'n:24', platform: undefined, name: undefined, instructions: [{ op: 'USER', args: '1' }] },
    ],
  );
  t.same(stages.globalArgs, [{ op: 'ARG', args: 'X=1' }]);
  t.end();
});
