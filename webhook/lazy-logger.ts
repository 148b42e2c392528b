import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';

/**
 * A logger whose children are made only when they write a line. fastify makes a child per request
 * (binding `reqId`), and pino serialises the bindings into a string for every child; nearly every
 * review writes no line (routine stamping logs at DEBUG, off by default). Given to fastify as its
 * `loggerInstance` (over the pino logger), so fastify's own per-request child goes through `child`
 * here; a `childLoggerFactory` instead would have fastify validate the returned logger per request.
 */
export class LazyLogger implements FastifyBaseLogger {
  readonly #parent: LazyLogger | undefined;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;
  #real: FastifyBaseLogger | undefined;

  private constructor(
    parent: LazyLogger | undefined,
    bindings: Bindings,
    options: ChildLoggerOptions,
    real?: FastifyBaseLogger,
  ) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
    this.#real = real;
  }

  /** `logger` itself, with lazy children. */
  static over(logger: FastifyBaseLogger): LazyLogger {
    return new LazyLogger(undefined, {}, {}, logger);
  }

  /** The real logger (made on first use, with its parents): what every line goes through. */
  get real(): FastifyBaseLogger {
    this.#real ??= this.#parent!.real.child(this.#bindings, this.#options);
    return this.#real;
  }

  /** True once a line (or a level change) made the real logger. */
  get materialised(): boolean {
    return this.#real !== undefined;
  }

  // Reading the level is what the hot path does (logOutcome): no child for it.
  get level(): string {
    return this.#real !== undefined ? this.#real.level : (this.#options.level ?? this.#parent!.level);
  }

  set level(level: string) {
    this.real.level = level;
  }

  fatal(...args: unknown[]): void {
    const log = this.real;
    Reflect.apply(log.fatal, log, args);
  }

  error(...args: unknown[]): void {
    const log = this.real;
    Reflect.apply(log.error, log, args);
  }

  warn(...args: unknown[]): void {
    const log = this.real;
    Reflect.apply(log.warn, log, args);
  }

  info(...args: unknown[]): void {
    const log = this.real;
    Reflect.apply(log.info, log, args);
  }

  debug(...args: unknown[]): void {
    const log = this.real;
    Reflect.apply(log.debug, log, args);
  }

  trace(...args: unknown[]): void {
    const log = this.real;
    Reflect.apply(log.trace, log, args);
  }

  silent(...args: unknown[]): void {
    const log = this.real;
    Reflect.apply(log.silent, log, args);
  }

  child(bindings: Bindings, options: ChildLoggerOptions = {}): LazyLogger {
    return new LazyLogger(this, bindings, options);
  }
}
