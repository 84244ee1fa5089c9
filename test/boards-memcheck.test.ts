// The Cortex-M4 board's bounds checks (scripts/build-boards.mjs fixedMemorySource) are
// exact: every load and store traps exactly when base + offset + size > 65536, the
// wasm rule for a one-page memory (WebAssembly core spec 4.4.7, "memory instructions").
// The rewrite turns wasm2c's 64-bit check into 32-bit compares; a wrong constant, a lost
// offset term or a 32-bit wrap of base + offset would let an access through or trap a
// good one. Here a module of every load/store at edge offsets goes through wat2wasm,
// wasm2c and the same rewrite, is compiled for this machine with the trap as SIGILL,
// and is called at the bases around each edge; the answer (value or trap) and the bytes
// past the memory are compared with the rule. The oracle is the rule itself, computed
// here in BigInt, independent of the C.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
// @ts-expect-error an .mjs script without types
import { fixedMemorySource } from "../scripts/build-boards.mjs";

const PAGE = 65536n;
const LOADS: [string, number, string][] = [
  ["i32.load", 4, "i32"], ["i64.load", 8, "i64"], ["f32.load", 4, "f32"], ["f64.load", 8, "f64"],
  ["i32.load8_s", 1, "i32"], ["i32.load8_u", 1, "i32"], ["i32.load16_s", 2, "i32"], ["i32.load16_u", 2, "i32"],
  ["i64.load8_s", 1, "i64"], ["i64.load8_u", 1, "i64"], ["i64.load16_s", 2, "i64"], ["i64.load16_u", 2, "i64"],
  ["i64.load32_s", 4, "i64"], ["i64.load32_u", 4, "i64"],
];
const STORES: [string, number, string][] = [
  ["i32.store", 4, "i32"], ["i64.store", 8, "i64"], ["f32.store", 4, "f32"], ["f64.store", 8, "f64"],
  ["i32.store8", 1, "i32"], ["i32.store16", 2, "i32"], ["i64.store8", 1, "i64"], ["i64.store16", 2, "i64"], ["i64.store32", 4, "i64"],
];
const OFFSETS = [0, 1, 7, 4096, 65528, 65532, 65535, 65536, 0xfffffff0, 0xffffffff];

interface Fn { name: string; op: string; size: number; offset: number; store: boolean; type: string }

function bases(size: number, offset: number): number[] {
  const edge = Number(PAGE) - size - offset; // the last good base (negative: none)
  const b = new Set([0, 1, 65535, 65536, 0xffffffff, (0x100000000 - offset) >>> 0, (0x100000000 - offset + 8) >>> 0]);
  for (const d of [-1, 0, 1]) if (edge + d >= 0 && edge + d <= 0xffffffff) b.add(edge + d);
  return [...b];
}

test("Cortex-M4 fixed-memory bounds checks: every load/store traps exactly when base + offset + size > 65536 (no 32-bit wrap), in-bounds accesses read and write the right bytes", (t) => {
  for (const tool of ["wat2wasm", "wasm2c", "gcc"]) if (!requirePeer(t, tool)) return;
  const dir = mkdtempSync(join(tmpdir(), "lwm2m-memcheck-"));
  try {
    const fns: Fn[] = [];
    const body: string[] = [];
    for (const [ops, store] of [[LOADS, false], [STORES, true]] as const) {
      for (const [op, size, type] of ops) {
        for (const offset of OFFSETS) {
          const name = `f${fns.length}`;
          fns.push({ name, op, size, offset, store, type });
          // stores write the low bytes of 0x0102030405060708 (f32/f64: the same bits); loads return them as i64
          const value = type === "i32" ? "(i32.const 0x05060708)" : type === "i64" ? "(i64.const 0x0102030405060708)"
            : type === "f32" ? "(f32.reinterpret_i32 (i32.const 0x05060708))" : "(f64.reinterpret_i64 (i64.const 0x0102030405060708))";
          const widen = type === "i32" ? "(i64.extend_i32_u ~)" : type === "i64" ? "~" : type === "f32" ? "(i64.extend_i32_u (i32.reinterpret_f32 ~))" : "(i64.reinterpret_f64 ~)";
          body.push(store
            ? `(func (export "${name}") (param i32) (result i64) (${op} offset=${offset} (local.get 0) ${value}) (i64.const 0))`
            : `(func (export "${name}") (param i32) (result i64) ${widen.replace("~", `(${op} offset=${offset} (local.get 0))`)})`);
        }
      }
    }
    writeFileSync(join(dir, "m.wat"), `(module (memory (export "memory") 1 1)\n${body.join("\n")})\n`);
    execFileSync("wat2wasm", [join(dir, "m.wat"), "-o", join(dir, "m.wasm")]);
    execFileSync("wasm2c", [join(dir, "m.wasm"), "-n", "m", "-o", join(dir, "m.c")]);
    writeFileSync(join(dir, "m.c"), fixedMemorySource(readFileSync(join(dir, "m.c"), "utf8")));
    const calls = fns.map((f, i) => `    case ${i}: r = Z_mZ_${f.name}(&inst, base); break;`).join("\n");
    writeFileSync(join(dir, "main.c"), `#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "m.h"
/* the board's linear memory, with 64 guard bytes after it that no access may touch */
unsigned char lwm2m_linear_memory[65536 + 64];
static sigjmp_buf jb;
static void on_trap(int sig) { (void)sig; siglongjmp(jb, 1); }
int main(void) {
  Z_m_instance_t inst;
  unsigned fn, base;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_trap;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGILL, &sa, NULL);
  wasm_rt_init();
  Z_m_init_module();
  Z_m_instantiate(&inst);
  memset(lwm2m_linear_memory + 65536, 0xa5, 64);
  while (scanf("%u %u", &fn, &base) == 2) {
    volatile unsigned long long r = 0;
    for (unsigned i = 0; i < 65536; i++) lwm2m_linear_memory[i] = (unsigned char)(i * 7 + 1);
    if (sigsetjmp(jb, 1)) { printf("trap\\n"); continue; }
    switch (fn) {
${calls}
    }
    unsigned long long sum = 0;
    for (unsigned i = 0; i < 65536; i++) sum = sum * 31 + lwm2m_linear_memory[i];
    int guard = 1;
    for (unsigned i = 65536; i < 65536 + 64; i++) guard &= lwm2m_linear_memory[i] == 0xa5;
    printf("ok %llx %llx %d\\n", (unsigned long long)r, sum, guard);
  }
  Z_m_free(&inst);
  return 0;
}
`);
    const exe = join(dir, "memcheck");
    execFileSync("gcc", ["-O2", "-w", "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0", "-DWASM_RT_USE_STACK_DEPTH_COUNT=0", "-I/usr/share/wabt/wasm2c", `-I${dir}`, join(dir, "main.c"), join(dir, "m.c"),
      "/usr/share/wabt/wasm2c/wasm-rt-impl.c", "-lm", "-o", exe]);
    const cases: [number, number][] = [];
    fns.forEach((f, i) => { for (const b of bases(f.size, f.offset)) cases.push([i, b]); });
    const out = execFileSync(exe, { input: cases.map(([i, b]) => `${i} ${b}`).join("\n") + "\n", encoding: "utf8", maxBuffer: 1 << 24 }).trim().split("\n");
    assert.equal(out.length, cases.length);

    // the memory image the driver fills before each call, and its checksum after a store
    const image = new Uint8Array(65536).map((_, i) => (i * 7 + 1) & 0xff);
    const sum = (m: Uint8Array) => { let s = 0n; for (const x of m) s = (s * 31n + BigInt(x)) & 0xffffffffffffffffn; return s; };
    const untouched = sum(image);
    const stored = (f: Fn) => { const v = new DataView(new ArrayBuffer(8)); v.setBigUint64(0, 0x0102030405060708n, true); return new Uint8Array(v.buffer, 0, f.size); };
    let traps = 0, oks = 0;
    cases.forEach(([i, base], k) => {
      const f = fns[i];
      const ea = BigInt(base) + BigInt(f.offset);
      const what = `${f.store ? "store" : "load"} ${f.size} B offset=${f.offset} base=${base} (${fns[i].name})`;
      if (ea + BigInt(f.size) > PAGE) { assert.equal(out[k], "trap", `${what} must trap`); traps++; return; }
      const m = /^ok ([0-9a-f]+) ([0-9a-f]+) 1$/.exec(out[k]);
      assert.ok(m, `${what} must not trap and must not touch the bytes past the memory: ${out[k]}`);
      oks++;
      const a = Number(ea);
      if (f.store) {
        const after = image.slice();
        after.set(stored(f), a);
        assert.equal(BigInt("0x" + m[2]), sum(after), `${what} wrote its bytes at ${a}`);
      } else {
        assert.equal(BigInt("0x" + m[2]), untouched, `${what} wrote nothing`);
        const bytes = image.subarray(a, a + f.size);
        let v = 0n;
        for (let j = bytes.length - 1; j >= 0; j--) v = (v << 8n) | BigInt(bytes[j]);
        const signed = f.op.endsWith("_s");
        if (signed && (v >> BigInt(f.size * 8 - 1)) & 1n) v -= 1n << BigInt(f.size * 8);
        const width = f.type === "i32" || f.type === "f32" ? 32n : 64n;
        assert.equal(BigInt("0x" + m[1]), BigInt.asUintN(Number(width), v), `${what} read the bytes at ${a}`);
      }
    });
    assert.ok(traps > 100 && oks > 100, `both sides of every edge ran (${traps} traps, ${oks} in bounds)`);
  } finally {
    if (!process.env.KEEP_MEMCHECK) rmSync(dir, { recursive: true, force: true }); else console.error(dir);
  }
});
