// Code bytes of build/firmware.wasm per source file and per feature, after
// inlining (issue 11 §3). `npm run size` names functions, but Binaryen inlines
// every single-caller function into its caller, so a function's size is mostly
// other files' code (DtlsConnection#onHandshakeRecord is the whole client
// handshake). Here the release is built again with a source map (same flags,
// same wasm-opt pass list); each code byte the map locates goes to its source
// file, and the bytes it does not locate (locals, block structure: about a
// fifth) go to the files of the same function in proportion.
// Usage: node scripts/size-attrib.mjs [--files N]   -> build/size-attrib.json
import asc from "assemblyscript/dist/asc.js";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WASM_FEATURES } from "./build.mjs";
import heapExports from "./asc-transforms/heap-exports.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

/** Features, by source path prefix (first match wins): what a build without the feature would drop. */
const FEATURES = [
  ["EST enrolment (est/, firmware/est-state)", ["assembly/est/", "assembly/firmware/est-state.ts"]],
  ["X.509 / PKIX (x509/, asn1/)", ["assembly/x509/", "assembly/asn1/"]],
  ["DTLS 1.2 client (dtls/)", ["assembly/dtls/"]],
  ["crypto: AES, CCM, CBC, SHA-256, HMAC, PRF", ["assembly/crypto/"]],
  ["CoAP (message, endpoint, block, observe)", ["assembly/coap/"]],
  ["SenML-CBOR + CBOR codec", ["assembly/lwm2m/formats/senml_cbor.ts", "assembly/cbor/"]],
  ["SenML-JSON + JSON", ["assembly/lwm2m/formats/senml_json.ts", "assembly/lwm2m/formats/json.ts"]],
  ["number text (formats/numbers)", ["assembly/lwm2m/formats/numbers.ts"]],
  ["TLV, text, link, SenML shared, format dispatch", ["assembly/lwm2m/formats/"]],
  ["LwM2M client, model, operations, bootstrap", ["assembly/lwm2m/"]],
  ["storage, persistence, sealed sessions", ["assembly/storage/", "assembly/firmware/persist.ts", "assembly/firmware/session-store.ts", "assembly/se/"]],
  ["firmware glue (main, transport)", ["assembly/firmware/"]],
  ["util, stdlib", ["assembly/util/", "assembly/host/", "~lib/"]],
];

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
function vlq(seg) {
  const out = [];
  let v = 0, sh = 0;
  for (const ch of seg) {
    const d = B64.indexOf(ch);
    v += (d & 31) << sh;
    if (d & 32) sh += 5;
    else { out.push(v & 1 ? -(v >> 1) : v >> 1); v = 0; sh = 0; }
  }
  return out;
}

/** [binary offset, source index or -1], sorted. */
function mappings(map) {
  let col = 0, src = 0;
  const pts = [];
  for (const seg of map.mappings.split(/[,;]/)) {
    if (!seg) continue;
    const f = vlq(seg);
    col += f[0];
    if (f.length >= 4) { src += f[1]; pts.push([col, src]); } else pts.push([col, -1]);
  }
  return pts.sort((a, b) => a[0] - b[0]);
}

/** [start, end) of each function body in the binary. */
function bodies(wasm) {
  let p = 8;
  const leb = () => { let r = 0, s = 0, x; do { x = wasm[p++]; r += (x & 127) * 2 ** s; s += 7; } while (x & 128); return r; };
  const out = [];
  while (p < wasm.length) {
    const id = wasm[p++];
    const size = leb();
    const start = p;
    if (id === 10) { const n = leb(); for (let i = 0; i < n; i++) { const len = leb(); out.push([p, p + len]); p += len; } }
    p = start + size;
  }
  return out;
}

export function attribute(wasm, map) {
  const pts = mappings(map);
  const byFile = new Map();
  let located = 0, k = 0;
  for (const [a, b] of bodies(wasm)) {
    const per = new Map();
    let mapped = 0, prev = a, prevFile = null;
    while (k < pts.length && pts[k][0] < a) k++;
    for (let j = k; j <= pts.length; j++) {
      const at = j < pts.length && pts[j][0] < b ? pts[j][0] : b;
      if (prevFile) { per.set(prevFile, (per.get(prevFile) ?? 0) + at - prev); mapped += at - prev; }
      if (at === b) break;
      prev = at;
      prevFile = pts[j][1] < 0 ? null : map.sources[pts[j][1]];
    }
    located += mapped;
    const size = b - a;
    if (mapped === 0) { byFile.set("(no location)", (byFile.get("(no location)") ?? 0) + size); continue; }
    for (const [f, n] of per) byFile.set(f, (byFile.get(f) ?? 0) + (n * size) / mapped);
  }
  const files = [...byFile].map(([file, n]) => ({ file, code: Math.round(n) })).sort((x, y) => y.code - x.code);
  const features = FEATURES.map(([feature]) => ({ feature, code: 0 }));
  const other = { feature: "other", code: 0 };
  for (const f of files) {
    const i = FEATURES.findIndex(([, prefixes]) => prefixes.some((p) => f.file.startsWith(p)));
    (i < 0 ? other : features[i]).code += f.code;
  }
  if (other.code) features.push(other);
  const code = files.reduce((s, f) => s + f.code, 0);
  return { code, located, files, features };
}

async function main() {
  mkdirSync("build/size", { recursive: true });
  const asm = "build/size/firmware.map.asc.wasm", out = "build/size/firmware.map.wasm";
  const { error, stderr } = await asc.main(["assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "release", "-o", asm, "--sourceMap"], { transforms: [heapExports] });
  if (error) { process.stderr.write(stderr.toString()); throw error; }
  // the release's wasm-opt pass list (scripts/build.mjs wasmOpt), maps carried through
  execFileSync("node_modules/.bin/wasm-opt", [asm, "--input-source-map", asm + ".map", "-Oz", "--converge", "--strip-producers", ...WASM_FEATURES, "-o", out, "--output-source-map", out + ".map"]);
  const r = attribute(readFileSync(out), JSON.parse(readFileSync(out + ".map", "utf8")));
  writeFileSync("build/size-attrib.json", JSON.stringify(r, null, 2) + "\n");
  const n = Number(process.argv[process.argv.indexOf("--files") + 1]) || 25;
  console.log(`code ${r.code} B, ${Math.round((100 * r.located) / r.code)} % located by the source map, the rest shared in proportion within each function\n\nby feature:`);
  for (const f of r.features) console.log(`  ${String(f.code).padStart(7)} B  ${f.feature}`);
  console.log(`\nlargest files (of ${r.files.length}):`);
  for (const f of r.files.slice(0, n)) console.log(`  ${String(f.code).padStart(7)} B  ${f.file}`);
  console.log("\nwritten build/size-attrib.json");
}
const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) main().catch((e) => { console.error(e.message); process.exit(1); });
