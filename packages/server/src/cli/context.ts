import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
// Not from first-start.ts: that would load the server's modules into every CLI command.
import { ADMIN_TOKEN_FILE } from '../admin-token-file.ts';
import { DEFAULT_BASE_URL, GatehouseAdmin, GatehouseError, type Page, type Paginated } from './client.ts';

/** Where a command writes, and the environment it reads; tests and the bin pass the process's own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** A failure of the command line itself (a missing token, a bad value): its message, exit status 1. */
export class CliError extends Error {}


export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export interface ListOptions {
  limit?: number;
  cursor?: string;
  all?: boolean;
}

/** What a command's action gets: its options, the admin client, and output that honours --json. */
export class CommandContext {
  /** Where the credential of this command came from, for the message of a 401 (which token was refused?). */
  credentialSource: string | undefined;

  constructor(
    readonly command: Command,
    readonly io: CliIo,
  ) {}

  options<T extends object>(): T & GlobalOptions {
    return this.command.optsWithGlobals<T & GlobalOptions>();
  }

  get json(): boolean {
    return this.options().json === true;
  }

  get baseUrl(): string {
    return this.options().url ?? this.io.env.GATEHOUSE_URL ?? DEFAULT_BASE_URL;
  }

  /** SPEC 10.2: remote commands go through the admin API, never the store (the server holds it). */
  admin(): GatehouseAdmin {
    return new GatehouseAdmin({ baseUrl: this.baseUrl, adminToken: this.adminToken() });
  }

  /** --token, then GATEHOUSE_ADMIN_TOKEN, then the owner-only file that the server's first start wrote. */
  private adminToken(): string {
    const { token } = this.options();
    if (token) {
      this.credentialSource = 'the admin token from --token';
      return token;
    }
    if (this.io.env.GATEHOUSE_ADMIN_TOKEN) {
      this.credentialSource = 'the admin token from GATEHOUSE_ADMIN_TOKEN';
      return this.io.env.GATEHOUSE_ADMIN_TOKEN;
    }
    const file = join(resolve(this.io.env.GATEHOUSE_DATA_DIR || './.gatehouse'), ADMIN_TOKEN_FILE);
    try {
      const token = readFileSync(file, 'utf8').trim();
      if (token) {
        this.credentialSource = `the admin token in ${file}`;
        return token;
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`cannot read the admin token in ${file}: ${(error as Error).message}`);
    }
    throw new CliError(`no admin token: pass --token, set GATEHOUSE_ADMIN_TOKEN, or run where ${file} exists (the server writes it on first start)`);
  }

  /** With --json the value as JSON; otherwise the human text. */
  emit(value: unknown, human: () => string): void {
    this.io.stdout(this.json ? JSON.stringify(value, null, 2) : human());
  }

  /** One page (--limit, --cursor), or with --all every page; the human form says how to get the next page. */
  async emitList<T>(list: ListOptions, one: (cursor: string | undefined) => Promise<Page<T>>, all: () => Paginated<T>, human: (rows: T[]) => string): Promise<void> {
    const page: Page<T> = list.all ? { data: await all().toArray(), nextCursor: null } : await one(list.cursor);
    this.emit(page, () => human(page.data) + (page.nextCursor ? `\n\nmore: --cursor ${page.nextCursor}` : ''));
  }
}

/** `credentialSource`: where the refused credential came from, named on a 401 so the right one gets fixed. */
export function describeError(error: unknown, json: boolean, credentialSource?: string): string {
  if (error instanceof GatehouseError) {
    const refused = error.status === 401 && credentialSource ? `the server refused ${credentialSource}` : undefined;
    if (json) {
      const { status, code, message, requestId, details } = error;
      return JSON.stringify({ error: { status, code, message, requestId, details, ...(refused && { credentialSource }) } });
    }
    const status = error.status ? ` (HTTP ${error.status})` : '';
    const lines = [`error: ${error.code}${status}: ${error.message}${error.requestId ? ` [requestId ${error.requestId}]` : ''}`];
    if (Object.keys(error.details).length > 0) lines.push(`details: ${JSON.stringify(error.details)}`);
    if (refused) lines.push(`${refused} (order: --token, GATEHOUSE_ADMIN_TOKEN, then <GATEHOUSE_DATA_DIR>/admin-token)`);
    return lines.join('\n');
  }
  const message = error instanceof Error ? error.message : String(error);
  return json ? JSON.stringify({ error: { code: 'CLI_ERROR', message } }) : `error: ${message}`;
}

// Argument parsers for commander: a bad value is a usage error with the option's name in it.
export function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new InvalidArgumentError('not an integer.');
  return parsed;
}

/**
 * A value that sets something, such as a balance: digits only. "+100" reads as "add 100" and "-5" as "take 5", which
 * a setting would not do, so both are refused rather than taken as 100 and -5.
 */
export function absoluteInteger(value: string): number {
  if (/^[+-]/.test(value.trim())) throw new InvalidArgumentError('sets an absolute value; a sign is not allowed (to add credits: gatehouse credits add <org> <n>).');
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('not a whole number.');
  return integer(value);
}

/** An amount to add: a whole number above zero (a leading + is allowed, since it says the same). */
export function positiveAmount(value: string): number {
  if (!/^\+?\d+$/.test(value.trim())) throw new InvalidArgumentError('must be a whole number above zero.');
  const parsed = integer(value.trim().replace(/^\+/, ''));
  if (parsed < 1) throw new InvalidArgumentError('must be a whole number above zero.');
  return parsed;
}

export function boolean(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('expected true or false.');
}

export function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** `none` (or an empty string) is "no plan". */
export function planName(value: string): string | null {
  return value === 'none' || value === '' ? null : value;
}

export function addListOptions(command: Command): Command {
  return command
    .option('--limit <n>', 'items per page (1-100)', integer)
    .option('--cursor <cursor>', 'continue from this page cursor')
    .option('--all', 'walk every page');
}

/** An action's body: its positional arguments after the context; a number is its exit status. */
export type Handler = (context: CommandContext, ...args: string[]) => Promise<number | void>;
/** Turns a handler into a commander action (see index.ts: errors, exit status). */
export type Run = (handler: Handler) => (...args: unknown[]) => Promise<void>;
