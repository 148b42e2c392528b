import type { KubeObject } from './store.ts';

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

/** Basic label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`. */
export function parseLabelSelector(selector: string | undefined): (o: KubeObject) => boolean {
  if (selector === undefined || selector.trim() === '') return () => true;
  const reqs: Requirement[] = [];
  for (const raw of selector.match(/[^,(]+(\([^)]*\))?/g) ?? []) {
    const term = raw.trim();
    if (term === '') continue;
    let m: RegExpMatchArray | null;
    if ((m = term.match(/^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, key = '', op, list = ''] = m;
      const values = new Set(list.split(',').map((v) => v.trim()));
      reqs.push(op === 'in' ? (l) => values.has(l[key] ?? '\0') : (l) => !values.has(l[key] ?? '\0'));
    } else if ((m = term.match(/^([^\s!=]+)\s*!=\s*(\S*)$/))) {
      const [, key = '', value] = m;
      reqs.push((l) => l[key] !== value);
    } else if ((m = term.match(/^([^\s!=]+)\s*==?\s*(\S*)$/))) {
      const [, key = '', value] = m;
      reqs.push((l) => l[key] === value);
    } else if ((m = term.match(/^!([^\s!=]+)$/))) {
      const [, key = ''] = m;
      reqs.push((l) => !(key in l));
    } else if ((m = term.match(/^([^\s!=]+)$/))) {
      const [, key = ''] = m;
      reqs.push((l) => key in l);
    } else {
      throw new Error(`unable to parse requirement: ${term}`);
    }
  }
  return (o) => reqs.every((r) => r(o.metadata.labels ?? {}));
}

/** Field selectors on `metadata.name` and `metadata.namespace` with `=`, `==`, `!=`. */
export function parseFieldSelector(selector: string | undefined): (o: KubeObject) => boolean {
  if (selector === undefined || selector.trim() === '') return () => true;
  const reqs: ((o: KubeObject) => boolean)[] = [];
  for (const raw of selector.split(',')) {
    const m = raw.trim().match(/^(metadata\.name|metadata\.namespace)\s*(!=|==|=)\s*(.*)$/);
    if (!m) throw new Error(`field label not supported: ${raw.trim()}`);
    const [, field, op, value] = m;
    const get = (o: KubeObject) =>
      field === 'metadata.name' ? o.metadata.name : (o.metadata.namespace ?? '');
    reqs.push(op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value);
  }
  return (o) => reqs.every((r) => r(o));
}
