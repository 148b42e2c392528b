import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino';

/**
 * fastify's per-request logger: pino's child with the request id, as fastify makes by default,
 * but the child is created only when a line is written at an enabled level. A routine review writes
 * none, and a pino child per request (bindings serialised into a string) was measurable in the
 * webhook's per-request CPU (bench/webhook.ts).
 */
export class LazyChildLogger {
  readonly #parent: Logger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;
  #child: Logger | undefined;

  constructor(parent: Logger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  /** The pino child, created on first use. */
  get logger(): Logger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options);
    return this.#child;
  }

  get level(): string {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  #write(level: Level, args: unknown[]): void {
    // A per-route level (options.level) needs the child to decide; otherwise the parent's decides.
    if (this.#child === undefined && this.#options.level === undefined && !this.#parent.isLevelEnabled(level))
      return;
    const child = this.logger;
    Reflect.apply(child[level], child, args);
  }

  fatal(...args: unknown[]): void {
    this.#write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#write('error', args);
  }
  warn(...args: unknown[]): void {
    this.#write('warn', args);
  }
  info(...args: unknown[]): void {
    this.#write('info', args);
  }
  debug(...args: unknown[]): void {
    this.#write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#write('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

/** fastify's `childLoggerFactory` for a pino logger: lazy children (see LazyChildLogger). */
export function lazyChildLoggerFactory(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  // The logger fastify was given is a pino Logger (WebhookAppDeps.logger); its type is narrower here.
  return new LazyChildLogger(logger as Logger, bindings, options);
}
