/**
 * SPEC 8.1: a project's time zone is an IANA name and its language a BCP-47 tag, both checked by the runtime's own
 * ICU data rather than a list of our own that would drift from it.
 */

// Intl lists canonical zones without UTC; the map also restores canonical case (`europe/paris` -> `Europe/Paris`).
const CANONICAL_ZONES = new Map([...Intl.supportedValuesOf('timeZone'), 'UTC'].map((zone) => [zone.toLowerCase(), zone]));
// Area/Location names and the few bare ones (UTC, EST5EDT); never a numeric offset such as +01:00, which newer
// runtimes would accept as a time zone but which is not an IANA name.
const IANA_SHAPE = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;

/** The zone's canonical spelling, or null when it is not an IANA time zone. Links (`Etc/UTC`, `US/Eastern`) are kept as given. */
export function canonicalTimeZone(name: string): string | null {
  if (!IANA_SHAPE.test(name)) return null;
  // A canonical zone in any case needs no ICU round trip (building a DateTimeFormat costs more than the whole
  // database write of a project); links and unknown names still ask ICU.
  const canonical = CANONICAL_ZONES.get(name.toLowerCase());
  if (canonical) return canonical;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
  } catch {
    return null;
  }
  return name;
}

// ICU's answer for a tag costs a few microseconds, and a create asks twice (the schema, then the service); partners
// send few distinct tags. Bounded: emptied when full.
const CANONICAL_TAGS = new Map<string, string | null>();
const CANONICAL_TAGS_KEPT = 1000;

/** The tag in canonical form (`EN-us` -> `en-US`), or null when it is not a well-formed BCP-47 language tag. */
export function canonicalLanguageTag(tag: string): string | null {
  let canonical = CANONICAL_TAGS.get(tag);
  if (canonical !== undefined) return canonical;
  try {
    canonical = Intl.getCanonicalLocales(tag)[0] ?? null;
  } catch {
    canonical = null;
  }
  if (CANONICAL_TAGS.size >= CANONICAL_TAGS_KEPT) CANONICAL_TAGS.clear();
  CANONICAL_TAGS.set(tag, canonical);
  return canonical;
}

/** Schema formats for the two, so a bad value is refused at the edge like any other invalid field. */
export const LOCALE_FORMATS: Record<string, { validate: (value: string) => boolean; message: string }> = {
  'iana-time-zone': {
    validate: (value) => canonicalTimeZone(value) !== null,
    message: 'must be an IANA time zone name, such as Europe/Paris',
  },
  'bcp47-language-tag': {
    validate: (value) => canonicalLanguageTag(value) !== null,
    message: 'must be a BCP-47 language tag, such as en or pt-BR',
  },
};
