// rclone's version-tag special case for names (reference §3.1 step 1): a `-vYYYY-MM-DD-HHMMSS-mmm`
// tag at the end of a file name's stem is kept in clear. It is cut out before the name is
// encrypted (or obfuscated) and re-inserted before the extension of the result, and decryption
// mirrors that. Only tags that denote a real calendar time count, as rclone parses them.

const TAG_LENGTH = "-v2006-01-02-150405-000".length;
const TAG_ANYWHERE = /-v\d{4}-\d{2}-\d{2}-\d{6}-\d{3}/;
const TAG_EXACT = /^-v(\d{4})-(\d{2})-(\d{2})-(\d{2})(\d{2})(\d{2})-\d{3}$/;

/** Split like Go's path.Ext, except that a lone leading-dot name is all stem. */
export function splitExt(name: string): { stem: string; ext: string } {
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return { stem: name, ext: "" };
  return { stem: name.slice(0, dot), ext: name.slice(dot) };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function isValidTag(tag: string): boolean {
  const m = TAG_EXACT.exec(tag);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  return (
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59 && second <= 59
  );
}

/** If `name` carries a valid version tag, return the name without it and the tag itself. */
export function stripVersionTag(name: string): { name: string; tag: string } | undefined {
  if (!TAG_ANYWHERE.test(name)) return undefined;
  const { stem, ext } = splitExt(name);
  if (stem.length < TAG_LENGTH) return undefined;
  const tag = stem.slice(stem.length - TAG_LENGTH);
  if (!isValidTag(tag)) return undefined;
  return { name: stem.slice(0, stem.length - TAG_LENGTH) + ext, tag };
}

/** Re-insert a tag before the extension of `name`. */
export function addVersionTag(name: string, tag: string): string {
  const { stem, ext } = splitExt(name);
  return stem + tag + ext;
}
