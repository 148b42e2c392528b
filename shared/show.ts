/**
 * Characters that must not reach a message or a log line raw: C0 and C1 controls, DEL, line and
 * paragraph separators, bidirectional marks, overrides and isolates, and lone surrogates.
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const escape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with every unsafe character written as a `\uXXXX` escape (BEL becomes `\u0007`). */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escape);
}

/**
 * User text (an annotation key or value, a pattern, a container name) made safe for a message or a
 * log line: at most about `max` characters, the rest replaced by an ellipsis and the full length,
 * unsafe characters escaped. Quoted as a JSON string by default.
 */
export function showText(text: string, max = 120, quoted = true): string {
  const cut = text.length > max;
  // Cut before escaping, so a huge input is never copied whole.
  const kept = cut ? text.slice(0, Math.max(0, max - 1)) : text;
  const body = quoted ? escapeControls(JSON.stringify(kept)) : escapeControls(kept);
  if (!cut) return body;
  const shortened = quoted ? `${body.slice(0, -1)}…"` : `${body}…`;
  return `${shortened} (${text.length} characters)`;
}
