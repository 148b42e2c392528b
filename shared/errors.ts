/** Base of every error image-watcher raises on purpose: `code` is stable, `message` is for people. */
export class ImageWatcherError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
