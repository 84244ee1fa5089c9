// Builds the C hosts of build/firmware.wasm (boards/README.md) under build/boards/:
//   lwm2m-wasm2c          wasm2c + boards/host-c, Linux x86-64
//   lwm2m-wasm2c-armhf    the same for 32-bit ARM (arm-linux-gnueabihf-gcc, static; run under qemu-arm)
//   lwm2m-wamr            launcher: --interp classic|fast picks lwm2m-wamr-classic / lwm2m-wamr-fast
//                         (WAMR 2.4.5 from ../shared/vendor, cmake; the interpreter is a build-time choice)
//   lwm2m-wamr-classic-armhf  WAMR classic for 32-bit ARM (static; run under qemu-arm)
//   lwm2m-host-test       the host's own test driver (boards/host-c/host_test.c)
//   lwm2m-m4.elf          the emulated board: wasm2c for Cortex-M4 with boards/m4 (qemu-system-arm -M mps2-an386)
// Everything is cached: wasm2c output and its object by the firmware's hash, the
// host objects by their sources, WAMR by cmake/make in build/boards/wamr-*.
//   lwm2m-wamr-aot        only with --only aot (wamrc + build/boards/firmware.aot; not in npm test's pretest: slow to build; .ci/run builds it),
//                         and lwm2m-wamr-aot-armhf with build/boards/firmware-armv7.aot
// Usage: node scripts/build-boards.mjs [--if-available] [--only wasm2c|armhf|m4|wamr|host-test|aot]
//   --if-available: a missing toolchain skips that host loudly (npm test's pretest) instead of failing.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = "build/boards";
const HOST = "boards/host-c";
const HOST_SOURCES = ["abi.c", "device.c", "drbg.c", "flash.c", "net.c", "provision.c", "se.c"].map((f) => join(HOST, f));
const WASM2C_RT = "/usr/share/wabt/wasm2c";
const WAMR_TAR = join(root, "..", "shared", "vendor", "wamr-2.4.5-core.tar.gz");
const WAMR_DIR = "build/wamr";
const ARMHF_MBED = "/usr/lib/arm-linux-gnueabihf/libmbedcrypto.a";
// Explicit bounds checks in the wasm2c output (no guard-page trick): the same code as on an MCU.
const W2C_FLAGS = ["-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0", "-DWASM_RT_USE_STACK_DEPTH_COUNT=1"];
// the C hosts print log lines decoded with the log dictionary built beside the module (scripts/log-dictionary.mjs)
const CFLAGS = ["-O2", "-std=gnu11", "-g0", `-I${HOST}`, `-I${WASM2C_RT}`, `-DLWM2M_LOG_DICT_DEFAULT="${join(process.cwd(), "build/firmware.wasm.logdict")}"`];
const WARN = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror"];

const ifAvailable = process.argv.includes("--if-available");
const onlyIdx = process.argv.indexOf("--only");
const only = onlyIdx > 0 ? process.argv[onlyIdx + 1] : null;
const times = {};

const have = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const sha = (f) => createHash("sha256").update(readFileSync(f)).digest("hex");
const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], ...opts });

function missing(what, why) {
  const msg = `TOOLCHAIN MISSING for ${what}: ${why} (see .ci/run)`;
  if (!ifAvailable || process.env.REQUIRE_PEERS === "1") throw new Error(msg);
  console.error(`\n*** ${msg} — SKIPPING ***\n`);
}

/** Compile `src` to `obj` unless obj is newer than src and every header of boards/host-c. */
function compile(cc, src, obj, flags) {
  const headers = [join(HOST, "lwm2m_host.h"), join(HOST, "provision.h")];
  if (mtime(obj) > Math.max(mtime(src), ...headers.map(mtime))) return;
  run(cc, [...flags, "-c", src, "-o", obj]);
}

/** build/firmware.wasm as C (wasm2c), regenerated when the module changes. */
function wasm2cSource(wasm = "build/firmware.wasm", sub = "w2c") {
  const dir = join(OUT, sub);
  mkdirSync(dir, { recursive: true });
  const hashFile = join(dir, "firmware.wasm.sha256");
  const h = sha(wasm);
  if (existsSync(hashFile) && readFileSync(hashFile, "utf8") === h && existsSync(join(dir, "firmware.c"))) return { dir, changed: false };
  run("wasm2c", [wasm, "-n", "firmware", "-o", join(dir, "firmware.c")]);
  writeFileSync(hashFile, h);
  return { dir, changed: true };
}

const objDir0 = (target) => join(OUT, `obj-${target}`);

function buildWasm2c(target) {
  const arm = target === "armhf";
  const cc = arm ? "arm-linux-gnueabihf-gcc" : "gcc";
  const name = arm ? "lwm2m-wasm2c-armhf" : "lwm2m-wasm2c";
  if (!have("wasm2c")) return missing(name, "wasm2c (Debian wabt) not found");
  if (!have(cc)) return missing(name, `${cc} not found (Debian ${arm ? "gcc-arm-linux-gnueabihf" : "build-essential"})`);
  const mbedLib = arm ? ARMHF_MBED : null;
  if (arm && !existsSync(mbedLib)) return missing(name, `${mbedLib} not found (Debian libmbedtls-dev:armhf, multiarch)`);
  if (!existsSync("/usr/include/mbedtls/ecdsa.h")) return missing(name, "Mbed TLS headers not found (Debian libmbedtls-dev)");
  const t0 = Date.now();
  const { dir } = wasm2cSource();
  // per target: the x86-64 and armhf objects share one firmware.c, so each compares with it
  const changed = mtime(join(objDir0(target), "firmware.o")) <= mtime(join(dir, "firmware.c"));
  const objDir = objDir0(target);
  mkdirSync(objDir, { recursive: true });
  const flags = [...CFLAGS, ...W2C_FLAGS, `-I${dir}`];
  const fwObj = join(objDir, "firmware.o");
  if (changed || !existsSync(fwObj)) run(cc, [...flags, "-w", "-c", join(dir, "firmware.c"), "-o", fwObj]);
  compile(cc, join(WASM2C_RT, "wasm-rt-impl.c"), join(objDir, "wasm-rt-impl.o"), [...flags, "-w"]);
  const objs = [fwObj, join(objDir, "wasm-rt-impl.o")];
  for (const src of [...HOST_SOURCES, "boards/wasm2c/main.c"]) {
    const obj = join(objDir, basename(src, ".c") + ".o");
    if (src.endsWith("main.c") && changed && existsSync(obj)) run(cc, [...flags, ...WARN, "-c", src, "-o", obj]); // firmware.h changed
    else compile(cc, src, obj, [...flags, ...WARN]);
    objs.push(obj);
  }
  const exe = join(OUT, name);
  if (Math.max(...objs.map(mtime)) > mtime(exe)) {
    run(cc, [...objs, ...(arm ? ["-static", mbedLib] : ["-lmbedcrypto"]), "-lm", "-o", exe]);
  }
  times[name] = Date.now() - t0;
}

/** boards/wamr/patches/*.patch, applied in name order to the unpacked WAMR (each file says why). */
const WAMR_PATCHES = "boards/wamr/patches";

/**
 * build/wamr: ../shared/vendor/wamr-2.4.5-core.tar.gz unpacked and our patches applied. A tree
 * unpacked with other patches (or none: build/ copied from before them) is unpacked again.
 */
function unpackWamr() {
  const patches = existsSync(WAMR_PATCHES) ? readdirSync(WAMR_PATCHES).filter((f) => f.endsWith(".patch")).sort() : [];
  const id = createHash("sha256");
  for (const p of patches) id.update(p).update(readFileSync(join(WAMR_PATCHES, p)));
  const want = id.digest("hex");
  const marker = join(WAMR_DIR, ".lwm2m-patches");
  if (existsSync(join(WAMR_DIR, "build-scripts", "runtime_lib.cmake")) && existsSync(marker) && readFileSync(marker, "utf8") === want) return true;
  if (!existsSync(WAMR_TAR)) { missing("lwm2m-wamr", `${WAMR_TAR} not found (../shared/vendor)`); return false; }
  if (patches.length && !have("patch")) { missing("lwm2m-wamr", "patch not found (Debian patch)"); return false; }
  rmSync(WAMR_DIR, { recursive: true, force: true });
  mkdirSync(WAMR_DIR, { recursive: true });
  // -m: the files dated now, so every object built from an earlier tree (patched otherwise) is rebuilt
  run("tar", ["xzmf", WAMR_TAR, "-C", WAMR_DIR]);
  for (const p of patches) run("patch", ["-p1", "--quiet", "--forward", "-d", WAMR_DIR, "-i", join(root, WAMR_PATCHES, p)]);
  writeFileSync(marker, want);
  return true;
}

/**
 * One WAMR host: cmake + make in build/boards/wamr-<mode>[-armhf], the binary copied beside the
 * launcher. armhf: 32-bit ARM, static, run under qemu-arm: the pointer size of a Cortex-M, so
 * its pool figures are the ones a 32-bit board has (x86-64's structures are about 1.4x larger).
 */
function buildWamrHost(mode, target = "x86_64") {
  const t0 = Date.now();
  const arm = target === "armhf";
  const name = `lwm2m-wamr-${mode}${arm ? "-armhf" : ""}`;
  const dir = join(OUT, `wamr-${mode}${arm ? "-armhf" : ""}`);
  if (arm) {
    if (!have("arm-linux-gnueabihf-gcc")) return missing(name, "arm-linux-gnueabihf-gcc not found (Debian gcc-arm-linux-gnueabihf)");
    if (!existsSync(ARMHF_MBED)) return missing(name, `${ARMHF_MBED} not found (Debian libmbedtls-dev:armhf, multiarch)`);
  }
  // a build directory configured from another checkout (build/ copied from one worktree to another),
  // or before the log dictionary, is redone
  const cache = join(dir, "CMakeCache.txt");
  if (existsSync(cache) && (!readFileSync(cache, "utf8").includes(`CMAKE_HOME_DIRECTORY:INTERNAL=${join(root, "boards", "wamr")}\n`) ||
      !readFileSync(cache, "utf8").includes("LWM2M_LOG_DICT_DEFAULT"))) {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!existsSync(join(dir, "Makefile"))) {
    const cross = arm ? ["-DCMAKE_SYSTEM_NAME=Linux", "-DCMAKE_SYSTEM_PROCESSOR=arm", "-DCMAKE_C_COMPILER=arm-linux-gnueabihf-gcc",
      "-DCMAKE_ASM_COMPILER=arm-linux-gnueabihf-gcc", "-DLWM2M_WAMR_TARGET=ARMV7_VFP", `-DLWM2M_MBEDCRYPTO=${ARMHF_MBED}`] : [];
    run("cmake", ["-S", "boards/wamr", "-B", dir, `-DWAMR_ROOT_DIR=${join(root, WAMR_DIR)}`, `-DLWM2M_INTERP=${mode}`, `-DLWM2M_LOG_DICT_DEFAULT=${join(root, "build/firmware.wasm.logdict")}`, ...cross], { stdio: ["ignore", "ignore", "inherit"] });
  }
  run("make", ["-C", dir, "-j2", "--no-print-directory", "-s"], { stdio: ["ignore", "ignore", "inherit"] });
  copyFileSync(join(dir, `lwm2m-wamr-${mode}`), join(OUT, name));
  times[name] = Date.now() - t0;
}

/**
 * WAMR AOT: wamrc (WAMR's compiler, against Debian's llvm-16-dev) and an AOT-only host. Not in
 * `npm test`'s pretest (wamrc: 4.4 min on 2 loaded cores, 13 min once); `.ci/run` runs it before `npm test`.
 * Also writes the Cortex-M4 AOT objects whose size `npm run size:boards` reports.
 */
function buildAot() {
  if (!have("cmake") || !existsSync("/usr/lib/llvm-16/lib/cmake/llvm")) return missing("wamrc", "cmake or llvm-16-dev not found");
  if (!unpackWamr()) return;
  const t0 = Date.now();
  const dir = "build/wamrc";
  // configured from another checkout's build/wamr (build/ copied from one worktree to another):
  // make would rebuild wamrc from that tree, not this one's patched WAMR; redone
  const cache = join(dir, "CMakeCache.txt");
  if (existsSync(cache) && !readFileSync(cache, "utf8").includes(`CMAKE_HOME_DIRECTORY:INTERNAL=${join(root, WAMR_DIR, "wamr-compiler")}\n`)) {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!existsSync(join(dir, "Makefile"))) {
    mkdirSync(dir, { recursive: true });
    run("cmake", ["-S", join(WAMR_DIR, "wamr-compiler"), "-B", dir, "-DWAMR_BUILD_WITH_CUSTOM_LLVM=1", "-DLLVM_DIR=/usr/lib/llvm-16/lib/cmake/llvm",
      "-DWAMR_BUILD_SIMD=0", "-DCMAKE_BUILD_TYPE=Release"], { stdio: ["ignore", "ignore", "inherit"] });
  }
  run("make", ["-C", dir, "-j2", "--no-print-directory", "-s"], { stdio: ["ignore", "ignore", "inherit"] });
  times.wamrc = Date.now() - t0;
  const wamrc = join(dir, "wamrc");
  const quiet = { stdio: ["ignore", "ignore", "inherit"] };
  run(wamrc, ["--disable-simd", "-o", join(OUT, "firmware.aot"), "build/firmware.wasm"], quiet);
  for (const [name, extra] of [["firmware-m4-aot-xip.o", ["--xip"]], ["firmware-m4-aot.o", []]]) {
    run(wamrc, ["--disable-simd", "--target=thumbv7em", "--cpu=cortex-m4", "--size-level=3", "--format=object", ...extra, "-o", join(OUT, name), "build/firmware.wasm"], quiet);
  }
  buildWamrHost("aot");
  // the same on 32-bit ARM Linux (qemu-arm): the AOT runtime's RAM with a Cortex-M's pointer size
  run(wamrc, ["--disable-simd", "--target=armv7", "--target-abi=gnueabihf", "--cpu=cortex-a7", "--size-level=3", "-o", join(OUT, "firmware-armv7.aot"), "build/firmware.wasm"], quiet);
  buildWamrHost("aot", "armhf");
  writeFileSync(AOT_STAMP, sha("build/firmware.wasm"));
}

/** The AOT binaries carry the build/firmware.wasm they were compiled from, and the pretest does not
 *  rebuild them: compiled from another module (AOT_STAMP), they are removed, loudly, so that a test
 *  never runs a stale one (it then skips, or fails under REQUIRE_PEERS=1, naming the command). */
const AOT_STAMP = join(OUT, "aot-from-firmware.sha256");
function dropStaleAot() {
  const files = ["firmware.aot", "firmware-armv7.aot", "firmware-m4-aot.o", "firmware-m4-aot-xip.o", "lwm2m-wamr-aot", "lwm2m-wamr-aot-armhf"].map((f) => join(OUT, f));
  if (!files.some((f) => existsSync(f))) return;
  if (existsSync(AOT_STAMP) && readFileSync(AOT_STAMP, "utf8") === sha("build/firmware.wasm")) return;
  for (const f of [...files, AOT_STAMP]) rmSync(f, { force: true });
  console.error("\n*** build-boards: the WAMR AOT binaries were compiled from another build/firmware.wasm: removed;" +
    " rebuild them with 'node scripts/build-boards.mjs --only aot' ***\n");
}

function buildWamr() {
  if (!have("cmake")) return missing("lwm2m-wamr", "cmake not found");
  if (!unpackWamr()) return;
  for (const interp of ["classic", "fast"]) buildWamrHost(interp);
  buildWamrHost("classic", "armhf");
  const launcher = join(OUT, "lwm2m-wamr");
  writeFileSync(launcher, `#!/bin/sh
# lwm2m-wamr [--interp classic|fast] <command> ...: WAMR's interpreter is chosen at build time,
# so each has its own binary beside this script (scripts/build-boards.mjs).
interp=classic
prev=
for a in "$@"; do [ "$prev" = "--interp" ] && interp="$a"; prev="$a"; done
case "$interp" in classic|fast|aot) ;; *) echo "--interp classic|fast|aot" >&2; exit 2;; esac
[ -x "$(dirname "$0")/lwm2m-wamr-$interp" ] || { echo "lwm2m-wamr-$interp is not built (aot: node scripts/build-boards.mjs --only aot)" >&2; exit 2; }
exec "$(dirname "$0")/lwm2m-wamr-$interp" "$@"
`);
  chmodSync(launcher, 0o755);
}

/**
 * The wasm2c output for a board whose linear memory is exactly the module's one page (declared
 * min = max = 1, so it can never grow): each bounds check compares with the constant 65536
 * instead of the memory's run-time size, a trap is `udf` (the board's fault handler reports it)
 * and linear memory sits at a fixed address.
 *
 * Every load and store also gets its address as the i32 base and the instruction's constant
 * offset, and checks `off > 65536 - n || base > 65536 - n - off` in 32 bits: wasm2c adds them
 * in 64 bits (`(u64)base + off + n > size`, exact but on a 32-bit core an add with carry and a
 * 64-bit compare, ~18 bytes a site); with `off` and `n` constants the new check folds to one
 * `cmp base, #K` and a branch. The same trap set: an access traps exactly when
 * base + off + n > 65536 (test/boards-memcheck.test.ts runs each edge).
 */
export function fixedMemorySource(src) {
  let sites = 0;
  const out = src
    .replace("if (UNLIKELY(offset + (uint64_t)len > mem->size))", "if (UNLIKELY(offset + (uint64_t)len > 65536u))")
    .replace("#define TRAP(x) (wasm_rt_trap(WASM_RT_TRAP_##x), 0)", "#define TRAP(x) (__builtin_trap(), 0)")
    .replace(/&mem->data\[addr\]/g, "&lwm2m_linear_memory[addr]")
    // little-endian load/store helpers: (base, off) in 32 bits
    .replace("static inline t3 name(wasm_rt_memory_t* mem, u64 addr) { \\\n    MEMCHECK(mem, addr, t1);",
      "static inline t3 name(wasm_rt_memory_t* mem, u32 base, u32 off) { \\\n    MEMCHECK32(base, off, t1);")
    .replace("static inline void name(wasm_rt_memory_t* mem, u64 addr, t2 value) { \\\n    MEMCHECK(mem, addr, t1);",
      "static inline void name(wasm_rt_memory_t* mem, u32 base, u32 off, t2 value) { \\\n    MEMCHECK32(base, off, t1);")
    .replace(/(wasm_rt_memcpy\([^\n]*)&lwm2m_linear_memory\[addr\]/g, "$1&lwm2m_linear_memory[base + off]")
    // every call site: `(u64)(w2c_x) + N` -> `w2c_x, Nu`
    .replace(/\b((?:i32|i64|f32|f64)_(?:load|store)[0-9a-z_]*)\(&instance->w2c_memory, \(u64\)\((w2c_[a-z0-9]+)\)(?: \+ (\d+)u?)?([,)])/g,
      (_m, f, v, off, end) => { sites++; return `${f}(&instance->w2c_memory, ${v}, ${off ?? 0}u${end}`; });
  const calls = (out.match(/\b(?:i32|i64|f32|f64)_(?:load|store)[0-9a-z_]*\(&instance->w2c_memory, /g) ?? []).length;
  for (const needle of ["65536u))", "__builtin_trap(), 0)", "u32 base, u32 off) {", "u32 base, u32 off, t2 value) {", "&lwm2m_linear_memory[base + off], &wrapped"]) {
    if (!out.includes(needle)) throw new Error(`wasm2c output changed: the fixed-memory rewrite found no place for ${needle}`);
  }
  if (calls !== sites) throw new Error(`wasm2c output changed: ${calls - sites} of ${calls} loads/stores not in the form (u64)(w2c_x) + N`);
  return "extern unsigned char lwm2m_linear_memory[];\n" +
    "#define MEMCHECK32(base, off, t) if (UNLIKELY((off) > 65536u - sizeof(t) || (base) > 65536u - sizeof(t) - (off))) TRAP(OOB);\n" + out;
}

const uleb = (n) => { const b = []; do { let x = n & 0x7f; n >>>= 7; if (n) x |= 0x80; b.push(x); } while (n); return b; };
function readUleb(buf, i) { let v = 0, s = 0, b; do { b = buf[i++]; v |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return [v >>> 0, i]; }

/**
 * The board's module: build/firmware.wasm with its memory declared 1 page min = max (what
 * fixedMemorySource relies on). The release module may grow to a second page (an EST
 * enrolment needs it: docs/architecture.md, RAM); a board with a fixed 64 KiB page runs the
 * flows that fit one page (PSK, RPK, X.509) and an enrolment there traps on the page limit.
 */
function onePageModule() {
  const src = readFileSync("build/firmware.wasm");
  const out = [src.subarray(0, 8)];
  let i = 8, found = false;
  while (i < src.length) {
    const id = src[i];
    const [size, body] = readUleb(src, i + 1);
    const end = body + size;
    if (id === 5) {
      let [count, j] = readUleb(src, body);
      if (count !== 1) throw new Error("one memory expected");
      const flags = src[j++];
      let initial; [initial, j] = readUleb(src, j);
      if (initial !== 1) throw new Error(`the Cortex-M4 build needs an initial memory of 1 page, the module has ${initial}`);
      const sec = [1, 0x01, ...uleb(1), ...uleb(1)]; // one memory, with a maximum: min = max = 1
      if (flags & ~1) throw new Error("shared or 64-bit memory not expected");
      out.push(Buffer.from([5, ...uleb(sec.length), ...sec]));
      found = true;
    } else out.push(src.subarray(i, end));
    i = end;
  }
  if (!found) throw new Error("build/firmware.wasm has no memory section");
  const dir = join(OUT, "m4");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "firmware-1page.wasm");
  writeFileSync(file, Buffer.concat(out));
  const dump = execFileSync("wasm-objdump", ["-x", "-j", "Memory", file], { encoding: "utf8" });
  if (!/pages: initial=1 max=1\b/.test(dump)) throw new Error(`the Cortex-M4 module needs memory initial=1 max=1: ${dump.trim()}`);
  return file;
}

/** GCC 12 size levers on top of -Os that shrink the wasm2c output (boards/README.md, the Cortex-M4 table): no inlining
 *  of small or once-called functions, no shrink-wrapping, no sibling calls: -1,014 B of the module's text, -1,216 B
 *  of the board's image. `-Oz` is `-Os` in GCC 12. */
export const M4_SIZE_FLAGS = ["-fno-inline-small-functions", "-fno-inline-functions-called-once", "-fno-shrink-wrap", "-fno-optimize-sibling-calls"];
export const M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-Os", ...M4_SIZE_FLAGS, "-ffunction-sections", "-fdata-sections", "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0", "-DWASM_RT_USE_STACK_DEPTH_COUNT=0"];

function buildM4() {
  if (!have("arm-none-eabi-gcc")) return missing("lwm2m-m4.elf", "arm-none-eabi-gcc not found (Debian gcc-arm-none-eabi, libnewlib-arm-none-eabi)");
  if (!have("wasm2c")) return missing("lwm2m-m4.elf", "wasm2c (Debian wabt) not found");
  const t0 = Date.now();
  const { dir: w2c } = wasm2cSource(onePageModule(), "w2c-1page");
  // the rewrite lives in this script: a change to it rebuilds the module's object too
  const changed = mtime(join(OUT, "m4", "firmware-fixed.o")) <= Math.max(mtime(join(w2c, "firmware.c")), mtime(fileURLToPath(import.meta.url)));
  const dir = join(OUT, "m4");
  mkdirSync(join(dir, "inc"), { recursive: true });
  // wasm-rt.h only (the rest of /usr/include is the host's libc)
  if (!existsSync(join(dir, "inc", "wasm-rt.h"))) copyFileSync("/usr/include/wasm-rt.h", join(dir, "inc", "wasm-rt.h"));
  const flags = [...M4_FLAGS, `-I${join(dir, "inc")}`, `-I${w2c}`, `-I${HOST}`];
  const fixed = join(dir, "firmware-fixed.c"), fixedObj = join(dir, "firmware-fixed.o");
  if (changed || !existsSync(fixedObj)) {
    writeFileSync(fixed, fixedMemorySource(readFileSync(join(w2c, "firmware.c"), "utf8")));
    run("arm-none-eabi-gcc", [...flags, "-w", "-c", fixed, "-o", fixedObj]);
  }
  const objs = [fixedObj];
  for (const src of ["boards/m4/rt.c", "boards/m4/board.c", join(HOST, "provision.c")]) {
    const obj = join(dir, basename(src, ".c") + ".o");
    if (changed || mtime(obj) <= mtime(src)) run("arm-none-eabi-gcc", [...flags, ...WARN, "-c", src, "-o", obj]);
    objs.push(obj);
  }
  const elf = join(OUT, "lwm2m-m4.elf");
  if (Math.max(...objs.map(mtime), mtime("boards/m4/mps2-an386.ld")) > mtime(elf)) {
    run("arm-none-eabi-gcc", [...M4_FLAGS, "-T", "boards/m4/mps2-an386.ld", "--specs=rdimon.specs", "-Wl,--gc-sections", ...objs, "-lm", "-o", elf]);
  }
  times["lwm2m-m4.elf"] = Date.now() - t0;
}

function buildHostTest() {
  if (!have("gcc") || !existsSync("/usr/include/mbedtls/ecdsa.h")) return missing("lwm2m-host-test", "gcc or Mbed TLS headers (libmbedtls-dev) not found");
  const t0 = Date.now();
  const objDir = join(OUT, "obj-host-test");
  mkdirSync(objDir, { recursive: true });
  const objs = [];
  for (const src of [...HOST_SOURCES.filter((s) => !s.endsWith("device.c")), join(HOST, "host_test.c")]) {
    const obj = join(objDir, basename(src, ".c") + ".o");
    compile("gcc", src, obj, [...CFLAGS, ...WARN]);
    objs.push(obj);
  }
  const exe = join(OUT, "lwm2m-host-test");
  if (Math.max(...objs.map(mtime)) > mtime(exe)) run("gcc", [...objs, "-lmbedcrypto", "-o", exe]);
  times["lwm2m-host-test"] = Date.now() - t0;
}

async function main() {
  process.chdir(root);
  if (!existsSync("build/firmware.wasm")) {
    const { buildFirmware } = await import("./build.mjs");
    await buildFirmware();
  }
  mkdirSync(OUT, { recursive: true });
  const steps = { "host-test": buildHostTest, wasm2c: () => buildWasm2c("x86_64"), armhf: () => buildWasm2c("armhf"), m4: buildM4, wamr: buildWamr };
  for (const [name, fn] of Object.entries(steps)) if (!only || only === name) fn();
  if (only === "aot") buildAot(); // opt-in: see buildAot
  else dropStaleAot();
  for (const [name, ms] of Object.entries(times)) console.log(`${OUT}/${name}: ${(ms / 1000).toFixed(1)} s`);
  // merged with earlier runs' (a run with --only times just that host)
  const timesFile = join(OUT, "build-times.json");
  const earlier = existsSync(timesFile) ? JSON.parse(readFileSync(timesFile, "utf8")) : {};
  writeFileSync(timesFile, JSON.stringify({ ...earlier, ...times }, null, 2) + "\n");
}
const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) main().catch((e) => { console.error(e.message); process.exit(1); });
