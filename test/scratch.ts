import { readFileSync } from 'node:fs';
import { findImageSites } from '../watcher/gitops/edit/index.ts';
for (const f of ['kustomization.yaml','values.yaml','manifests.yaml','compose.yaml','daemonset.crlf.yaml','twice.yaml']) {
  const p = 'test/fixtures/gitops/' + f;
  console.log(f, JSON.stringify(findImageSites(p, readFileSync(p, 'utf8')).map(s => [s.line, s.kind, s.image, s.name, s.newName, s.digest, s.workload, s.container])));
}
