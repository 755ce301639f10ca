// pg's own conversion of a query parameter to what it sends; @types/pg leaves the module out.
declare module 'pg/lib/utils.js' {
  /** What pg sends for a parameter: its text form, raw bytes (a Buffer or typed array), or null. */
  export function prepareValue(value: unknown): string | Buffer | null;
}
