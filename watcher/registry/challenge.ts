/** A parsed `WWW-Authenticate` challenge from a registry (RFC 7235). */
export interface AuthChallenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/**
 * Parses the first Basic or Bearer challenge of a `WWW-Authenticate` header. Parameter values
 * may be quoted and contain commas (`scope="repository:a:pull,push"`). Unknown schemes give
 * undefined, so the caller can report an unsupported registry instead of crashing.
 */
export function parseWwwAuthenticate(header: string | null | undefined): AuthChallenge | undefined {
  if (!header) return undefined;
  let i = 0;
  const s = header;
  const skipSpace = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipSpace();
    const scheme = readToken().toLowerCase();
    if (!scheme) {
      i++;
      continue;
    }
    const params: Record<string, string> = {};
    for (;;) {
      skipSpace();
      const save = i;
      const key = readToken().toLowerCase();
      skipSpace();
      if (!key || s[i] !== '=') {
        // Not a parameter: the start of the next challenge (or token68, which we ignore).
        i = save;
        break;
      }
      i++;
      skipSpace();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < s.length && s[i] !== ',' && s[i] !== ' ') i++;
        value = s.slice(start, i);
      }
      params[key] = value;
      skipSpace();
      if (s[i] === ',') i++;
    }
    if (scheme === 'basic' || scheme === 'bearer') return { scheme, params };
    // Skip the rest of an unsupported challenge's token68 / separators.
    while (i < s.length && s[i] !== ',' && !/[A-Za-z]/.test(s[i]!)) i++;
    if (s[i] === ',') i++;
  }
  return undefined;
}

/** The `rel="next"` target of a `Link` header, as written (may be relative). */
export function parseNextLink(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (m && /;\s*rel="?next"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}
