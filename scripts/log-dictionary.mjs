// The log dictionary of a release module (scripts/asc-transforms/ascii-literals.mjs
// LOG_DICTIONARY): its custom section `lwm2m.logdict` is moved out of the
// module into `<module>.logdict` beside it, so the shipped module carries 2-byte
// tokens and no log text; the hosts decode lines with the file
// (host-shim/node/log-dictionary.ts, boards/host-c/abi.c). The file: "LWLD", version 1,
// the SHA-256 of the module it belongs to, u16 count, per text a length byte and the bytes.
import { readFileSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";

const SECTION = "lwm2m.logdict";

function leb(b, at) {
  let v = 0, shift = 0, x;
  do { x = b[at++]; v |= (x & 0x7f) << shift; shift += 7; } while (x & 0x80);
  return [v >>> 0, at];
}

/** Moves the dictionary section of `wasmPath` into `wasmPath.logdict`; removes a stale file when the module has none. */
export function splitLogDictionary(wasmPath) {
  const b = readFileSync(wasmPath);
  const keep = [b.subarray(0, 8)];
  let dict = null;
  for (let at = 8; at < b.length;) {
    const start = at;
    const id = b[at++];
    let size;
    [size, at] = leb(b, at);
    const end = at + size;
    if (id === 0) {
      const [nameLen, p] = leb(b, at);
      if (b.subarray(p, p + nameLen).toString("latin1") === SECTION) { dict = b.subarray(p + nameLen, end); at = end; continue; }
    }
    keep.push(b.subarray(start, end));
    at = end;
  }
  const file = `${wasmPath}.logdict`;
  if (!dict) { if (existsSync(file)) rmSync(file); return null; }
  const module = Buffer.concat(keep);
  writeFileSync(wasmPath, module);
  // the file: the section's "LWLD" and version, the SHA-256 of the module it belongs to, then its count and texts
  writeFileSync(file, Buffer.concat([dict.subarray(0, 5), createHash("sha256").update(module).digest(), dict.subarray(5)]));
  return file;
}
