// Where the two processes listen, and what to say when they cannot (pure: no sockets here).
import { isIP } from 'node:net';
import { ConfigError } from './env.ts';
import { ImageWatcherError } from './errors.ts';

/** All interfaces, as a container needs; `LISTEN_ADDRESS=127.0.0.1` for a local try. */
export const DEFAULT_LISTEN_ADDRESS = '0.0.0.0';

/** LISTEN_ADDRESS: an IPv4 or IPv6 address (`0.0.0.0`, `::`, `127.0.0.1`, `::1`). */
export function parseListenAddress(value: string, variable = 'LISTEN_ADDRESS'): string {
  const text = value.trim();
  if (isIP(text) === 0) {
    throw new ConfigError(
      variable,
      `${variable}=${JSON.stringify(value)} is not an IP address; use e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces)`,
    );
  }
  return text;
}

/** A listener that could not start: one line naming the port and the variable to change. */
export class ListenError extends ImageWatcherError {
  constructor(message: string, cause: unknown) {
    super('E_LISTEN', message, { cause });
  }
}

/**
 * Turns the errno errors of `listen()` into a ListenError; `ports` maps each variable to the
 * port it set (`{ HTTP_PORT: 8080 }`). Anything else is returned unchanged.
 */
export function listenError(err: unknown, ports: Readonly<Record<string, number>>): unknown {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (typeof e !== 'object' || e === null) return err;
  const variable =
    Object.entries(ports).find(([, port]) => port === e.port)?.[0] ?? Object.keys(ports).join(' or ');
  const where = `port ${e.port ?? '?'} on ${e.address ?? '?'}`;
  switch (e.code) {
    case 'EADDRINUSE':
      return new ListenError(`${where} is already in use; set ${variable}`, err);
    case 'EACCES':
      return new ListenError(`${where} needs privileges this process lacks; set ${variable} above 1023`, err);
    case 'EADDRNOTAVAIL':
      return new ListenError(
        `${e.address ?? '?'} is not an address of this machine; set LISTEN_ADDRESS`,
        err,
      );
    default:
      return err;
  }
}
