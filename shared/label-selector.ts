/**
 * Syntax check of a Kubernetes label selector (the `-l` of kubectl, `labelSelector` of a list or
 * watch). The API server does the matching; this only refuses at start what it would refuse on
 * every request, with a message that says which part is wrong.
 */

/** Label names and values: at most 63 characters, alphanumeric at both ends, `-_.` inside. */
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** A key's optional prefix: a DNS subdomain (lower case), at most 253 characters. */
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function keyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length > 253 || !PREFIX.test(prefix))
      return `${JSON.stringify(key)}: the prefix before "/" must be a DNS subdomain (lower case, at most 253)`;
  }
  if (!NAME.test(name))
    return `${JSON.stringify(key)} is not a label key (at most 63 letters, digits, "-", "_", "." after an optional prefix/)`;
  return undefined;
}

function valueProblem(value: string): string | undefined {
  if (value === '' || NAME.test(value)) return undefined;
  return `${JSON.stringify(value)} is not a label value (at most 63 letters, digits, "-", "_", ".")`;
}

/** Splits on commas outside parentheses (`env in (a,b),tier=web`). */
function requirements(selector: string): string[] | string {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const ch = selector[i];
    if (ch === '(') depth += 1;
    else if (ch === ')') depth -= 1;
    if (depth < 0 || depth > 1) return 'unbalanced parentheses';
    if (ch === ',' && depth === 0) {
      out.push(selector.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (depth !== 0) return 'unbalanced parentheses';
  out.push(selector.slice(start).trim());
  return out;
}

const SET = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/;
const COMPARE = /^([^\s!=<>]+)\s*(==|=|!=)\s*(\S*)$/;
const ORDER = /^([^\s!=<>]+)\s*(>|<)\s*(\S+)$/;
const EXISTS = /^(!?)\s*([^\s!=<>()]+)$/;

/** Why a requirement does not parse, or undefined. */
function requirementProblem(term: string): string | undefined {
  if (term === '') return 'an empty requirement (two commas, or one at an end)';
  let m: RegExpMatchArray | null;
  if ((m = SET.exec(term))) {
    const values = m[3]!.split(',').map((v) => v.trim());
    if (values.length === 1 && values[0] === '') return `${JSON.stringify(term)}: the set is empty`;
    return keyProblem(m[1]!) ?? values.map(valueProblem).find((p) => p !== undefined);
  }
  if ((m = COMPARE.exec(term))) return keyProblem(m[1]!) ?? valueProblem(m[3]!);
  if ((m = ORDER.exec(term))) {
    if (!/^-?\d+$/.test(m[3]!)) return `${JSON.stringify(term)}: ${m[2]} needs an integer`;
    return keyProblem(m[1]!);
  }
  if ((m = EXISTS.exec(term))) return keyProblem(m[2]!);
  return `${JSON.stringify(term)} is not a requirement (key=value, key!=value, key in (a,b), key notin (a,b), key, !key)`;
}

/** Why `selector` is not a label selector, or undefined when it is one. Blank selects everything. */
export function labelSelectorProblem(selector: string): string | undefined {
  const text = selector.trim();
  if (text === '') return undefined;
  const terms = requirements(text);
  if (typeof terms === 'string') return terms;
  for (const term of terms) {
    const p = requirementProblem(term);
    if (p !== undefined) return p;
  }
  return undefined;
}
