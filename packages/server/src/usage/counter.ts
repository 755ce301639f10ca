import type { EndpointClass } from '../config.ts';
import { CLASS_INDEX } from '../limits/limiter.ts';
import type { UsageIncrement } from './sink.ts';
import type { Env } from '../db/schema.ts';

const MINUTE_MS = 60_000;
const CLASSES: readonly EndpointClass[] = ['read-light', 'write-light', 'long-running'];

/** One key's counts for one endpoint class and minute, with its organization (one object: the least a key costs). */
interface Cell {
  organizationId: string;
  /** The key's env (SPEC 12): usage is answered per env. */
  env: Env;
  minute: number;
  requests: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  rateLimited: number;
  creditsCharged: number;
}

/** The key a count belongs to (a key's principal is one, so counting allocates nothing more). */
export interface KeyOfCount {
  organizationId: string;
  apiKeyId: string;
  env: Env;
}

const emptyCell = (key: KeyOfCount, minute: number): Cell => ({
  organizationId: key.organizationId,
  env: key.env,
  minute,
  requests: 0,
  status2xx: 0,
  status4xx: 0,
  status5xx: 0,
  rateLimited: 0,
  creditsCharged: 0,
});

/**
 * SPEC 8.7: usage per (apiKeyId, endpointClass, minute), counted in this process's memory. A request costs a map
 * lookup and a few increments; `drain()` hands everything counted since the last drain to the writer, which adds it
 * to the store. A batch the store refused is given back with `restore()`, so nothing counted is lost or counted twice
 * by this instance.
 */
export class UsageCounter {
  /** Per endpoint class (CLASS_INDEX): apiKeyId → the open cell of the minute being counted. */
  private cells: Map<string, Cell>[] = [new Map(), new Map(), new Map()];
  /** Cells of minutes that ended while their key kept being counted. */
  private closed: UsageIncrement[] = [];

  count(key: KeyOfCount, endpointClass: EndpointClass, status: number, nowMs: number): void {
    const cell = this.cellOf(key, endpointClass, nowMs);
    cell.requests++;
    if (status >= 500) cell.status5xx++;
    else if (status >= 400) cell.status4xx++;
    else if (status >= 200 && status < 300) cell.status2xx++;
    if (status === 429) cell.rateLimited++;
  }

  /** The open cell of a key and class for the minute of `nowMs`; a cell of an earlier minute is closed first. */
  private cellOf(key: KeyOfCount, endpointClass: EndpointClass, nowMs: number): Cell {
    const minute = nowMs - (nowMs % MINUTE_MS);
    const { apiKeyId } = key;
    const cells = this.cells[CLASS_INDEX[endpointClass]]!;
    let cell = cells.get(apiKeyId);
    if (cell === undefined || cell.minute !== minute) {
      if (cell !== undefined) this.closed.push(incrementOf(apiKeyId, endpointClass, cell));
      cell = emptyCell(key, minute);
      cells.set(apiKeyId, cell);
    }
    return cell;
  }

  /** Credits charged outside a request (a job's start), counted against the key in this minute without a request. */
  addCredits(key: KeyOfCount, endpointClass: EndpointClass, credits: number, nowMs: number): void {
    this.cellOf(key, endpointClass, nowMs).creditsCharged += credits;
  }

  /** Open cells (a key and an endpoint class counted in this minute) since the last drain. */
  get trackedKeys(): number {
    return this.cells[0]!.size + this.cells[1]!.size + this.cells[2]!.size;
  }

  /** Everything counted since the last drain, and forgets it. */
  drain(): UsageIncrement[] {
    const out = this.closed;
    const cells = this.cells;
    this.closed = [];
    this.cells = [new Map(), new Map(), new Map()];
    for (let index = 0; index < CLASSES.length; index++) {
      for (const [apiKeyId, cell] of cells[index]!) out.push(incrementOf(apiKeyId, CLASSES[index]!, cell));
    }
    return out;
  }

  /** Gives back a drained batch that could not be stored; it goes out with the next one. */
  restore(batch: readonly UsageIncrement[]): void {
    this.closed.push(...batch);
  }
}

function incrementOf(apiKeyId: string, endpointClass: EndpointClass, cell: Cell): UsageIncrement {
  return { apiKeyId, endpointClass, ...cell };
}
