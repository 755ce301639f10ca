import type { RequestLogEntry } from './sink.ts';

/**
 * The request log's bounded buffer (SPEC 8.7): appending is a push; when `capacity` rows wait, a row is dropped and
 * counted instead, so a slow or absent store never slows a request or grows memory without bound.
 */
export class RequestLogBuffer {
  private rows: RequestLogEntry[] = [];
  /** Rows dropped because the buffer was full, since the process started. */
  dropped = 0;
  /** Rows handed to the store and stored, since the process started. */
  written = 0;

  constructor(readonly capacity: number) {}

  append(entry: RequestLogEntry): void {
    if (this.rows.length >= this.capacity) this.dropped++;
    else this.rows.push(entry);
  }

  get size(): number {
    return this.rows.length;
  }

  /** Up to `max` of the oldest rows, taken out of the buffer. */
  take(max: number): RequestLogEntry[] {
    if (this.rows.length <= max) {
      const all = this.rows;
      this.rows = [];
      return all;
    }
    return this.rows.splice(0, max);
  }
}
