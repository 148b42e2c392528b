// Pushes a tiny image under several tags to a registry, without docker, through the OCI
// distribution API (the same code the tests use), for the README's quickstart:
//   node --import ./bench/register.js scripts/push-demo-images.ts 127.0.0.1:5000/demo/web 1.0.0 1.1.0
import { buildImage } from '../test/support/images.ts';
import { pushImage } from '../test/support/registry.ts';

const [repository, ...tags] = process.argv.slice(2);
const slash = repository?.indexOf('/') ?? -1;
if (repository === undefined || slash < 1 || tags.length === 0) {
  console.error('usage: push-demo-images.ts HOST:PORT/REPOSITORY TAG...');
  process.exit(2);
}
const host = repository.slice(0, slash);
const repo = repository.slice(slash + 1);
try {
  // One image per tag: each tag gets its own digest, as real releases do.
  for (const tag of tags) await pushImage(`http://${host}`, repo, [tag], buildImage());
  process.stdout.write(`pushed ${repository}: ${tags.join(' ')}\n`);
} catch (err) {
  console.error(`push-demo-images: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
