// Named constants of the AssemblyScript sources, read from the source text so
// that the host side never keeps a hand copy (one source of truth).
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..");

/** The constants of `export namespace NS { export const X: i32 = N; ... }` in `file` (relative to the repository). */
export function readNamespace(file: string, ns: string): Record<string, number> {
  const src = readFileSync(join(ROOT, file), "utf8");
  const start = src.indexOf(`export namespace ${ns} {`);
  if (start < 0) throw new Error(`namespace ${ns} not in ${file}`);
  const body = src.slice(start, src.indexOf("\n}", start));
  const out: Record<string, number> = {};
  for (const m of body.matchAll(/export const (\w+): (?:i32|u8|u32) = (-?\d+|0x[0-9a-f]+)/gi)) out[m[1]] = Number(m[2]);
  return out;
}
