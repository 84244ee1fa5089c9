// Log lines of a firmware built with a log dictionary (scripts/asc-transforms/
// ascii-literals.mjs LOG_DICTIONARY; scripts/log-dictionary.mjs writes
// `<module>.logdict`): a byte 0x80-0xFF and the next byte are a token, the
// 15-bit index of a text in the dictionary. Every other byte is ASCII.
import { existsSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";

export class LogDictionary {
  private constructor(readonly texts: string[]) {}

  /** The dictionary beside a module file (`<path>.logdict`), checked against the module's bytes;
   *  null when the module has none. Throws when the file belongs to another build. */
  static forModule(path: string, moduleBytes: Uint8Array): LogDictionary | null {
    const file = `${path}.logdict`;
    if (!existsSync(file)) return null;
    return LogDictionary.parse(file, readFileSync(file), moduleBytes);
  }

  private static parse(file: string, b: Buffer, moduleBytes: Uint8Array | null): LogDictionary {
    if (b.length < 39 || b.toString("latin1", 0, 4) !== "LWLD" || b[4] !== 1) throw new Error(`${file}: not a log dictionary (version 1)`);
    if (moduleBytes && !createHash("sha256").update(moduleBytes).digest().equals(b.subarray(5, 37))) {
      throw new Error(`${file} belongs to another build of the module: rebuild (npm run build)`);
    }
    const count = (b[37] << 8) | b[38];
    const texts: string[] = [];
    let at = 39;
    for (let i = 0; i < count; i++) {
      const n = b[at];
      if (n === undefined || at + 1 + n > b.length) throw new Error(`${file}: truncated at text ${i}`);
      texts.push(b.toString("latin1", at + 1, at + 1 + n));
      at += 1 + n;
    }
    return new LogDictionary(texts);
  }

  /** For module bytes given without their file: the dictionary beside one of `paths` built with them, or null. */
  static matching(moduleBytes: Uint8Array, paths: string[]): LogDictionary | null {
    for (const p of paths) {
      try { const d = LogDictionary.forModule(p, moduleBytes); if (d) return d; } catch { /* another build */ }
    }
    return null;
  }

  /** Text a board printed with "<#id>" for each token (boards/m4 put_text), with the tokens' texts. */
  static decodeMarkers(text: string, dict: LogDictionary | null): string {
    return text.replace(/<#(\d+)>/g, (m, id) => dict?.texts[Number(id)] ?? m);
  }

  /** The dictionary file itself, without a module to check it against (a board's UART output). */
  static read(file: string): LogDictionary {
    return LogDictionary.parse(file, readFileSync(file), null);
  }

  /** A line's bytes as text: tokens replaced by their text (`<#id>` when unknown or cut off). */
  static decode(bytes: Uint8Array, dict: LogDictionary | null | undefined): string {
    let out = "";
    let run = 0;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      if (c < 0x80) continue;
      out += Buffer.from(bytes.buffer, bytes.byteOffset + run, i - run).toString("latin1");
      if (i + 1 >= bytes.length) { out += "<#?>"; run = bytes.length; break; }
      const id = ((c & 0x7f) << 8) | bytes[i + 1];
      out += dict?.texts[id] ?? `<#${id}>`;
      i++;
      run = i + 1;
    }
    return out + Buffer.from(bytes.buffer, bytes.byteOffset + run, Math.max(0, bytes.length - run)).toString("latin1");
  }
}
