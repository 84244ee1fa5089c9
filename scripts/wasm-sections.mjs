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
