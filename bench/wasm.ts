// A small WebAssembly binary reader for the bench: function body sizes with
// their names (name section), and the active data segments (address and
// bytes) of memory 0. Only what the size and RAM rows need.

export interface DataSegment { offset: number; bytes: Uint8Array }
export interface WasmInfo {
  importedFunctions: number;
  functionBodies: number[];
  functionNames: Map<number, string>;
  data: DataSegment[];
  /** Initial pages of memory 0 (defined, not imported). */
  memoryPages: number | null;
}

function leb(buf: Uint8Array, pos: { p: number }): number {
  let result = 0, shift = 0, b: number;
  do {
    b = buf[pos.p++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return result;
}

function sleb32(buf: Uint8Array, pos: { p: number }): number {
  let result = 0, shift = 0, b: number;
  do {
    b = buf[pos.p++];
    result |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  if (shift < 32 && b & 0x40) result |= -1 << shift;
  return result;
}

function name(buf: Uint8Array, pos: { p: number }): string {
  const n = leb(buf, pos);
  const s = Buffer.from(buf.subarray(pos.p, pos.p + n)).toString("utf8");
  pos.p += n;
  return s;
}

function limits(buf: Uint8Array, q: { p: number }): number {
  const flags = buf[q.p++];
  const min = leb(buf, q);
  if (flags & 1) leb(buf, q);
  return min;
}

export function readWasm(buf: Uint8Array): WasmInfo {
  const out: WasmInfo = { importedFunctions: 0, functionBodies: [], functionNames: new Map(), data: [], memoryPages: null };
  const pos = { p: 8 };
  while (pos.p < buf.length) {
    const id = buf[pos.p++];
    const size = leb(buf, pos);
    const start = pos.p, end = start + size;
    const q = { p: start };
    if (id === 0) {
      if (name(buf, q) === "name") {
        while (q.p < end) {
          const sub = buf[q.p++];
          const subEnd = leb(buf, q) + q.p;
          if (sub === 1) {
            const count = leb(buf, q);
            for (let i = 0; i < count; i++) { const idx = leb(buf, q); out.functionNames.set(idx, name(buf, q)); }
          }
          q.p = subEnd;
        }
      }
    } else if (id === 2) {
      const count = leb(buf, q);
      for (let i = 0; i < count; i++) {
        name(buf, q); name(buf, q);
        const kind = buf[q.p++];
        if (kind === 0) { leb(buf, q); out.importedFunctions++; }
        else if (kind === 1) { q.p++; limits(buf, q); }
        else if (kind === 2) limits(buf, q);
        else if (kind === 3) q.p += 2;
      }
    } else if (id === 5) {
      if (leb(buf, q) > 0) out.memoryPages = limits(buf, q);
    } else if (id === 10) {
      const count = leb(buf, q);
      for (let i = 0; i < count; i++) { const n = leb(buf, q); out.functionBodies.push(n); q.p += n; }
    } else if (id === 11) {
      const count = leb(buf, q);
      for (let i = 0; i < count; i++) {
        const flags = leb(buf, q);
        if (flags === 1) { const n = leb(buf, q); q.p += n; continue; } // passive
        if (flags === 2) leb(buf, q); // memory index
        // offset: i32.const N end (what AssemblyScript and wasm-opt emit)
        if (buf[q.p] !== 0x41) throw new Error("data segment offset is not an i32.const");
        q.p++;
        const offset = sleb32(buf, q);
        if (buf[q.p++] !== 0x0b) throw new Error("data segment offset expression too long");
        const n = leb(buf, q);
        out.data.push({ offset, bytes: buf.slice(q.p, q.p + n) });
        q.p += n;
      }
    }
    pos.p = end;
  }
  return out;
}

/** Highest address + 1 written by an active data segment (0 if none). */
export function dataExtent(info: WasmInfo): number {
  return info.data.reduce((m, s) => Math.max(m, s.offset + s.bytes.length), 0);
}

/** Memory image the data segments produce (zero elsewhere), `size` bytes long. */
export function dataImage(info: WasmInfo, size: number): Uint8Array {
  const img = new Uint8Array(size);
  for (const s of info.data) img.set(s.bytes.subarray(0, Math.max(0, size - s.offset)), s.offset);
  return img;
}

/** Function body bytes grouped by source folder (assembly/<layer>/ ...), from a module with a name section. */
export function codeByLayer(info: WasmInfo): Map<string, number> {
  const out = new Map<string, number>();
  info.functionBodies.forEach((size, i) => {
    const n = info.functionNames.get(i + info.importedFunctions) ?? "";
    const m = n.match(/^assembly\/([^/]+)\//);
    const layer = m ? m[1] : n.startsWith("~lib/") ? "~lib" : "(unnamed)";
    out.set(layer, (out.get(layer) ?? 0) + size);
  });
  return out;
}
