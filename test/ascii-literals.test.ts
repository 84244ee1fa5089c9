// The build's ascii-literals transform (scripts/asc-transforms/ascii-literals.mjs):
// a string literal passed to a log function becomes a length byte and its
// ASCII bytes. Each distinct text is stored once per source file, and the
// log function still gets the same bytes. A tiny module is compiled with the
// transform of this tree (not the copy the node_modules link resolves to).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./helpers/wasm";

const LOG_TS = `
export let last: usize = 0;
export function log<T>(level: i32, msg: T): void { last = changetype<usize>(msg); }
`;
const MAIN_TS = `
import { log, last } from "./util/log";
export function a(): usize { log(0, "DTLS: ssid="); return last; }
export function b(): usize { log(1, "DTLS: ssid="); return last; }
export function c(): usize { log(1, "other"); return last; }
export function d(f: bool): usize { log(1, f ? "DTLS: ssid=" : "other"); return last; }
`;

async function compile(): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), "ascii-literals-"));
  try {
    mkdirSync(join(dir, "util"));
    writeFileSync(join(dir, "util", "log.ts"), LOG_TS);
    writeFileSync(join(dir, "main.ts"), MAIN_TS);
    const asc = (await import("assemblyscript/dist/asc.js")).default;
    const transform = (await import(pathToFileURL(join(ROOT, "scripts/asc-transforms/ascii-literals.mjs")).href)).default;
    const { error, stderr } = await asc.main(
      ["main.ts", "--baseDir", dir, "--runtime", "stub", "-O0", "--outFile", "main.wasm"],
      { transforms: [transform] },
    );
    assert.equal(error, null, String(stderr));
    return readFileSync(join(dir, "main.wasm"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function count(hay: Buffer, needle: string): number {
  const n = Buffer.from(needle);
  let k = 0;
  for (let i = hay.indexOf(n); i >= 0; i = hay.indexOf(n, i + 1)) k++;
  return k;
}

test("ascii-literals: one copy of each log text per source file, as a length byte and ASCII bytes", async () => {
  const bin = await compile();
  assert.equal(count(bin, "DTLS: ssid="), 1, "the text is in the module once");
  assert.equal(count(bin, Buffer.from("DTLS: ssid=", "utf16le").toString("latin1")), 0, "no UTF-16 string is left");
  const inst = await WebAssembly.instantiate(new WebAssembly.Module(new Uint8Array(bin)), { env: { abort: () => { throw new Error("abort"); } } });
  const exports = inst.exports as any;
  const mem = new Uint8Array(exports.memory.buffer);
  const text = (p: number) => Buffer.from(mem.subarray(p + 1, p + 1 + mem[p])).toString("latin1");
  const a = exports.a(), b = exports.b(), c = exports.c();
  assert.equal(text(a), "DTLS: ssid=");
  assert.equal(mem[a], 11);
  assert.equal(b, a, "the same text in another call is the same bytes");
  assert.equal(text(c), "other");
  assert.notEqual(c, a);
  assert.equal(exports.d(1), a, "a conditional's arms share the pool");
  assert.equal(exports.d(0), c);
});
