// Minimal WebAssembly binary reader: section sizes, per-function body sizes
// and the name section's function names. Enough for size reports.
const SECTION_NAMES = ["custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "datacount"];


function leb(buf, pos) {
  let result = 0, shift = 0, b;
  do {
    b = buf[pos.p++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return result;
}

function str(buf, pos) {
  const n = leb(buf, pos);
  const s = Buffer.from(buf.subarray(pos.p, pos.p + n)).toString("utf8");
  pos.p += n;
  return s;
}

export function readLayout(buf) {
  const out = { sections: [], importedFunctions: 0, functionBodies: [], functionNames: new Map() };
  const pos = { p: 8 };
  while (pos.p < buf.length) {
    const id = buf[pos.p++];
    const size = leb(buf, pos);
    const start = pos.p, end = start + size;
    let name = SECTION_NAMES[id] ?? `unknown(${id})`;
    if (id === 0) {
      const q = { p: start };
      const cname = str(buf, q);
      name = `custom:${cname}`;
      if (cname === "name") {
        while (q.p < end) {
          const sub = buf[q.p++];
          const subSize = leb(buf, q);
          const subEnd = q.p + subSize;
          if (sub === 1) {
            const count = leb(buf, q);
            for (let i = 0; i < count; i++) { const idx = leb(buf, q); out.functionNames.set(idx, str(buf, q)); }
          }
          q.p = subEnd;
        }
      }
    } else if (id === 2) {
      const q = { p: start };
      const count = leb(buf, q);
      for (let i = 0; i < count; i++) {
        str(buf, q); str(buf, q);
        const kind = buf[q.p++];
        if (kind === 0) { leb(buf, q); out.importedFunctions++; }
        else if (kind === 1) { q.p++; const f = buf[q.p++]; leb(buf, q); if (f & 1) leb(buf, q); }
        else if (kind === 2) { const f = buf[q.p++]; leb(buf, q); if (f & 1) leb(buf, q); }
        else if (kind === 3) { q.p += 2; }
      }
    } else if (id === 10) {
      const q = { p: start };
      const count = leb(buf, q);
      for (let i = 0; i < count; i++) { const n = leb(buf, q); out.functionBodies.push(n); q.p += n; }
    }
    out.sections.push({ id, name, size });
    pos.p = end;
  }
  return out;
}

// ---- data segment merging ------------------------------------------------------

function uleb(n) {
  const out = [];
  do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n);
  return out;
}

function sleb32(n) {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

function readSleb32(buf, pos) {
  let result = 0, shift = 0, b;
  do { b = buf[pos.p++]; result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
  return shift < 32 && (b & 0x40) ? result | (-1 << shift) : result;
}

/** The memory image the active data segments produce (for the self-check below). */
function dataImage(segs) {
  const size = segs.reduce((m, s) => Math.max(m, s.offset + s.bytes.length), 0);
  const img = new Uint8Array(size);
  for (const s of segs) img.set(s.bytes, s.offset);
  return img;
}

/**
 * Merges active data segments that are adjacent or separated by a few zero
 * bytes: AssemblyScript emits one segment per static (each string, each
 * memory.data) and wasm-opt's memory packing only splits. Zeros are kept in
 * place of a gap below MERGE_GAP bytes: besides its header in the file, a
 * segment costs a runtime structure (WAMR: 52 B on 32-bit, 64 B on x86-64,
 * plus the allocator's header; wasm2c: a copy call), so 64 B of zeros are the
 * cheaper of the two (boards/README.md: 119 -> 18 segments, +496 B of module,
 * -6 KB of WAMR pool). The memory image is unchanged (checked); a module with
 * other kinds of segments (passive, another memory, a non-constant offset) or
 * overlapping ones is returned as it is.
 */
export const MERGE_GAP = 64;
export function mergeDataSegments(buf) {
  const sections = [];
  const pos = { p: 8 };
  while (pos.p < buf.length) {
    const id = buf[pos.p++];
    const size = leb(buf, pos);
    sections.push({ id, start: pos.p, end: pos.p + size });
    pos.p += size;
  }
  const data = sections.find((s) => s.id === 11);
  if (!data) return buf;
  const q = { p: data.start };
  const count = leb(buf, q);
  const segs = [];
  for (let i = 0; i < count; i++) {
    if (buf[q.p++] !== 0 || buf[q.p++] !== 0x41) return buf; // active, memory 0, i32.const
    const offset = readSleb32(buf, q);
    if (buf[q.p++] !== 0x0b || offset < 0) return buf;
    const n = leb(buf, q);
    segs.push({ offset, bytes: buf.subarray(q.p, q.p + n) });
    q.p += n;
  }
  if (q.p !== data.end) return buf;
  const sorted = [...segs].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].bytes.length) return buf;
  const merged = [];
  for (const s of sorted) {
    const last = merged[merged.length - 1];
    const gap = last ? s.offset - (last.offset + last.length) : Infinity;
    // a header: flags, i32.const, offset, end, length
    if (gap < Math.max(MERGE_GAP, 3 + sleb32(s.offset).length + uleb(s.bytes.length).length)) {
      last.parts.push(new Uint8Array(gap), s.bytes);
      last.length += gap + s.bytes.length;
    } else {
      merged.push({ offset: s.offset, length: s.bytes.length, parts: [s.bytes] });
    }
  }
  const out = merged.map((m) => ({ offset: m.offset, bytes: Buffer.concat(m.parts) }));
  const before = dataImage(segs), after = dataImage(out);
  if (before.length !== after.length || Buffer.compare(before, after) !== 0) throw new Error("mergeDataSegments: memory image changed");
  const body = [uleb(out.length)];
  for (const s of out) body.push([0, 0x41, ...sleb32(s.offset), 0x0b, ...uleb(s.bytes.length)], s.bytes);
  const dataBody = Buffer.concat(body.map((b) => Buffer.from(b)));
  const parts = [buf.subarray(0, 8)];
  for (const s of sections) {
    let content = buf.subarray(s.start, s.end);
    if (s.id === 11) content = dataBody;
    else if (s.id === 12) content = Buffer.from(uleb(out.length)); // datacount
    parts.push(Buffer.from([s.id, ...uleb(content.length)]), content);
  }
  return Buffer.concat(parts);
}
