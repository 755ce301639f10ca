import { findKeysInText, type KeyEnv } from '../keys/format.ts';

/** Where a key sits in a file, and the log-safe part of it. The secret is never kept. */
export interface KeyFinding {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units (what editors count for the ASCII a key is made of). */
  column: number;
  displayPrefix: string;
  keyId: string;
  env: KeyEnv;
}

/**
 * Every checksum-valid key of `prefix` in a file's text (SPEC 10.2: no false positives), with its line and
 * column. Pure: the walker reads files, this only looks at text.
 */
export function findKeysInFile(text: string, prefix: string): KeyFinding[] {
  const findings: KeyFinding[] = [];
  let line = 1;
  let lineStart = 0;
  let scanned = 0;
  for (const { index, parsed } of findKeysInText(text, prefix)) {
    // Matches come in order, so newlines are counted once over the whole text.
    for (let at = text.indexOf('\n', scanned); at !== -1 && at < index; at = text.indexOf('\n', at + 1)) {
      line++;
      lineStart = at + 1;
    }
    scanned = index;
    findings.push({ line, column: index - lineStart + 1, displayPrefix: parsed.displayPrefix, keyId: parsed.keyId, env: parsed.env });
  }
  return findings;
}
