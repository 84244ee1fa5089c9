// `npm run size:boards` (= node scripts/build-boards.mjs && tsx bench/boards.ts):
// footprint of the C hosts (boards/README.md). Writes build/boards/size.json and
// prints a markdown table.
//  - text/data/bss (`size`) of our code (boards/host-c + binding) and of the
//    runtime (wasm2c output + wasm-rt-impl, or WAMR's libvmlib), per build;
//  - wasm2c for Cortex-M4 (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os,
//    bounds checks on): stock wasm2c output, and with the fixed-memory checks
//    this module allows (memory declared 1 page min = max, so every check
//    compares against the constant 65536; traps as `udf`; linear memory at a
//    fixed address), and without checks for reference;
//  - at run time, one DTLS-PSK registration against the development servers
//    per host (--stats): WAMR pool peak and interpreter (wasm) stack used, the
//    wasm2c C stack high-water mark, the process's peak RSS (VmHWM).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers } from "../server/index";
// @ts-expect-error an .mjs script without types
import { fixedMemorySource, M4_FLAGS, M4_SIZE_FLAGS } from "../scripts/build-boards.mjs";

const ROOT = join(__dirname, "..");
const B = join(ROOT, "build", "boards");
const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

interface Sizes { text: number; data: number; bss: number }
function sizeOf(tool: string, files: string[]): Sizes {
  const out = execFileSync(tool, ["-t", ...files], { encoding: "utf8" }).trim().split("\n");
  const [text, data, bss] = out[out.length - 1].trim().split(/\s+/).map(Number);
  return { text, data, bss };
}
const fmt = (s: Sizes) => `${s.text.toLocaleString("en")} / ${s.data.toLocaleString("en")} / ${s.bss.toLocaleString("en")}`;
const WASM_STACK_DEFAULT = 8192; // boards/wamr/main.c --wasm-stack
const OURS = ["abi", "device", "drbg", "flash", "net", "provision", "se", "main"];

/** The Cortex-M4 text variants of the wasm2c output (-Os unless named): stock wasm2c, the board's fixed-memory
 *  32-bit checks, toolchain levers on the board's source, and no checks; cached by the sources' hash. */
const M4_VARIANTS: [string, "stock" | "board" | "unchecked", string[]][] = [
  ["stock", "stock", []],
  ["board", "board", []],
  ["boardOz", "board", ["-Oz"]],
  ["boardO2", "board", ["-O2"]],
  ["boardGccDefaults", "board", ["-finline-small-functions", "-finline-functions-called-once", "-fshrink-wrap", "-foptimize-sibling-calls"]],
  ["boardNoInline", "board", ["-fno-inline"]],
  ["boardFlto", "board", ["-flto", "-ffat-lto-objects"]],
  ["unchecked", "unchecked", ["-UWASM_RT_MEMCHECK_SIGNAL_HANDLER", "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=1", "-DWASM_RT_SKIP_SIGNAL_RECOVERY=1"]],
];
function m4Sizes(): Record<string, number> | null {
  if (!have("arm-none-eabi-gcc")) return null;
  const dir = join(B, "m4");
  const src = readFileSync(join(B, "w2c", "firmware.c"), "utf8");
  const board = fixedMemorySource(src);
  const hash = createHash("sha256").update(src).update(board).update(JSON.stringify(M4_VARIANTS)).update(M4_FLAGS.join(" ")).digest("hex").slice(0, 16);
  const cacheFile = join(dir, `sizes-${hash}.json`);
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, "utf8"));
  const r: Record<string, number> = {};
  for (const [name, which, extra] of M4_VARIANTS) {
    const file = join(dir, `size-${which}.c`), obj = join(dir, `size-${name}.o`);
    writeFileSync(file, which === "board" ? board : src);
    execFileSync("arm-none-eabi-gcc", [...M4_FLAGS, "-w", `-I${join(dir, "inc")}`, `-I${join(B, "w2c")}`, ...extra, "-c", file, "-o", obj]);
    r[name] = sizeOf("arm-none-eabi-size", [obj]).text;
  }
  writeFileSync(cacheFile, JSON.stringify(r));
  return r;
}

/** The Cortex-M4 text of another module (a build profile's, e.g. build/firmware-psk-lpwa.wasm): the board's form
 *  and without checks, cached by the module's hash. */
function m4ModuleSizes(wasm: string): { bytes: number; board: number; unchecked: number } | null {
  if (!existsSync(wasm) || !have("arm-none-eabi-gcc") || !have("wasm2c")) return null;
  const bytes = readFileSync(wasm);
  const hash = createHash("sha256").update(bytes).update(fixedMemorySource.toString()).update(M4_FLAGS.join(" ")).digest("hex").slice(0, 16);
  const dir = join(B, "m4", `module-${hash}`);
  const cacheFile = join(dir, "sizes.json");
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, "utf8"));
  mkdirSync(dir, { recursive: true });
  execFileSync("wasm2c", [wasm, "-n", "firmware", "-o", join(dir, "firmware.c")]);
  writeFileSync(join(dir, "board.c"), fixedMemorySource(readFileSync(join(dir, "firmware.c"), "utf8")));
  const text = (src: string, extra: string[]) => {
    const obj = join(dir, src.replace(".c", ".o"));
    execFileSync("arm-none-eabi-gcc", [...M4_FLAGS, "-w", `-I${join(B, "m4", "inc")}`, `-I${dir}`, ...extra, "-c", join(dir, src), "-o", obj]);
    return sizeOf("arm-none-eabi-size", [obj]).text;
  };
  const r = { bytes: bytes.length, board: text("board.c", []), unchecked: text("firmware.c", M4_VARIANTS.find(([n]) => n === "unchecked")![2]) };
  writeFileSync(cacheFile, JSON.stringify(r));
  return r;
}

/** The module's text in the linked board image (lwm2m-m4.elf, --gc-sections): its functions as the ELF keeps them. */
function m4LinkedModuleText(): number | null {
  const elf = join(B, "lwm2m-m4.elf"), obj = join(B, "m4", "firmware-fixed.o");
  if (!existsSync(elf) || !existsSync(obj) || !have("arm-none-eabi-nm")) return null;
  const syms = (f: string) => execFileSync("arm-none-eabi-nm", ["-S", "--defined-only", f], { encoding: "utf8" }).trim().split("\n")
    .map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 4 && /^[tT]$/.test(p[2]));
  const names = new Set(syms(obj).map((p) => p[3]));
  return syms(elf).filter((p) => names.has(p[3])).reduce((n, p) => n + parseInt(p[1], 16), 0);
}

/** The emulated board's boot: SysTick ticks (25 MHz; x40 = instructions under -icount shift=0) and stack high-water. */
function emulatedBoard(): { firstBootTicks: number; secondBootTicks: number; stackBytes: number; text: Sizes } | null {
  const elf = join(B, "lwm2m-m4.elf");
  if (!existsSync(elf) || !have("qemu-system-arm")) return null;
  const r = spawnSync("qemu-system-arm", ["-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
    "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", elf], { encoding: "utf8", timeout: 120_000 });
  const m = /first boot (\d+), second boot (\d+)/.exec(r.stdout), st = /stack high-water: (\d+)/.exec(r.stdout);
  if (r.status !== 0 || !m || !st) throw new Error(`emulated board failed:\n${r.stdout}${r.stderr}`);
  return { firstBootTicks: Number(m[1]), secondBootTicks: Number(m[2]), stackBytes: Number(st[1]), text: sizeOf("arm-none-eabi-size", [elf]) };
}

interface RunStats { poolPeak?: number; poolSize?: number; poolLoaded?: number; poolRunning?: number; wasmStack?: number; cStack?: number; rssKiB?: number; registered: boolean }

/** One DTLS-PSK registration with --stats; SIGINT after the Read. */
async function runHost(argv: string[]): Promise<RunStats> {
  const state = mkdtempSync(join(tmpdir(), "lwm2m-bench-boards-"));
  const dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: join(ROOT, "server", "dev-config.json"), secure: { pkiDir: join(state, "pki") }, log: () => {} });
  try {
    const [cmd, ...pre] = argv;
    const child = spawn(cmd, [...pre, "device", "--endpoint", "lwm2m-wasm-demo", "--server", dev.secureServerUri!, "--psk-identity", "lwm2m-wasm-demo",
      "--psk-key", "e3f44a4d285867330c457c686d5489b2", "--state", join(state, "dev"), "--stats", "--log-level", "1"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    const registered = await new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), 20_000);
      dev.server.once("registered", () => { clearTimeout(t); res(true); });
    });
    let rssKiB: number | undefined;
    if (registered) {
      await dev.server.read("lwm2m-wasm-demo", "/3/0");
      // qemu-arm: the emulator's own RSS, not the board's; left out
      if (!cmd.startsWith("qemu")) rssKiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1]);
    }
    child.kill("SIGINT");
    await exited;
    const num = (re: RegExp) => { const m = re.exec(out); return m ? Number(m[1]) : undefined; };
    return {
      registered, rssKiB,
      poolSize: num(/WAMR pool: (\d+) bytes/), poolPeak: num(/peak used (\d+) bytes/),
      poolLoaded: num(/in use after load (\d+) bytes/), poolRunning: num(/after instantiation (\d+) bytes/),
      wasmStack: num(/Total interpreter stack used: (\d+)/), cStack: num(/C stack high-water: (\d+)/),
    };
  } finally {
    await dev.close();
    rmSync(state, { recursive: true, force: true });
  }
}

async function main() {
  if (!existsSync(join(B, "lwm2m-wasm2c"))) throw new Error("run npm run build:boards first");
  const fw = statSync(join(ROOT, "build", "firmware.wasm")).size;
  const result: Record<string, unknown> = { firmwareBytes: fw, builds: JSON.parse(readFileSync(join(B, "build-times.json"), "utf8")) };
  const rows: string[][] = [];
  const kib = (n?: number) => (n === undefined ? "–" : `${(n / 1024).toFixed(1)} KiB`);

  const hosts: { name: string; argv: string[]; ours: Sizes; runtime: Sizes; runtimeWhat: string; moduleBytes?: number }[] = [];
  const obj = (dir: string, names: string[]) => names.map((n) => join(B, dir, `${n}.o`)).filter(existsSync);
  for (const interp of ["classic", "fast", "aot"]) {
    if (!existsSync(join(B, `lwm2m-wamr-${interp}`))) continue; // aot: opt-in (scripts/build-boards.mjs --only aot)
    const dir = join(B, `wamr-${interp}`, "CMakeFiles", `lwm2m-wamr-${interp}.dir`);
    const ours = existsSync(dir) ? sizeOf("size", execFileSync("sh", ["-c", `find ${dir} -name '*.o'`], { encoding: "utf8" }).trim().split("\n")) : { text: 0, data: 0, bss: 0 };
    hosts.push({ name: `WAMR ${interp} (x86-64)`, argv: [join(B, "lwm2m-wamr"), "--interp", interp], ours, runtime: sizeOf("size", [join(B, `wamr-${interp}`, "libvmlib.a")]), runtimeWhat: "libvmlib.a (WAMR 2.4.5)" });
  }
  if (have("qemu-arm") && have("arm-linux-gnueabihf-size")) {
    for (const interp of ["classic", "aot"]) {
      if (!existsSync(join(B, `lwm2m-wamr-${interp}-armhf`))) continue; // aot: opt-in, as above
      const dir = join(B, `wamr-${interp}-armhf`, "CMakeFiles", `lwm2m-wamr-${interp}.dir`);
      const ours = sizeOf("arm-linux-gnueabihf-size", execFileSync("sh", ["-c", `find ${dir} -name '*.o'`], { encoding: "utf8" }).trim().split("\n"));
      hosts.push({ name: `WAMR ${interp} (32-bit ARM, qemu-arm)`, argv: ["qemu-arm", join(B, `lwm2m-wamr-${interp}-armhf`)], ours,
        runtime: sizeOf("arm-linux-gnueabihf-size", [join(B, `wamr-${interp}-armhf`, "libvmlib.a")]), runtimeWhat: "libvmlib.a (WAMR 2.4.5)" });
      // a build profile is how a user fits a small part: the psk-lpwa module (profiles.json) on the same host
      const psk = join(ROOT, "build", "firmware-psk-lpwa.wasm");
      if (interp === "classic" && existsSync(psk)) {
        hosts.push({ name: `WAMR classic (32-bit ARM, qemu-arm), psk-lpwa module (${statSync(psk).size.toLocaleString("en")} B)`,
          argv: ["qemu-arm", join(B, "lwm2m-wamr-classic-armhf"), "--firmware", psk], ours, moduleBytes: statSync(psk).size,
          runtime: sizeOf("arm-linux-gnueabihf-size", [join(B, "wamr-classic-armhf", "libvmlib.a")]), runtimeWhat: "libvmlib.a (WAMR 2.4.5)" });
      }
    }
  }
  hosts.push({ name: "wasm2c (x86-64)", argv: [join(B, "lwm2m-wasm2c")], ours: sizeOf("size", obj("obj-x86_64", OURS)), runtime: sizeOf("size", obj("obj-x86_64", ["firmware", "wasm-rt-impl"])), runtimeWhat: "firmware.c (wasm2c) + wasm-rt-impl" });
  if (existsSync(join(B, "lwm2m-wasm2c-armhf")) && have("arm-linux-gnueabihf-size")) {
    hosts.push({ name: "wasm2c (32-bit ARM, qemu-arm)", argv: ["qemu-arm", join(B, "lwm2m-wasm2c-armhf")], ours: sizeOf("arm-linux-gnueabihf-size", obj("obj-armhf", OURS)), runtime: sizeOf("arm-linux-gnueabihf-size", obj("obj-armhf", ["firmware", "wasm-rt-impl"])), runtimeWhat: "firmware.c (wasm2c) + wasm-rt-impl" });
  }
  const runs: Record<string, RunStats> = {};
  const sized: Record<string, { stack?: number; poolSized?: number }> = {};
  for (const h of hosts) {
    const r = await runHost(h.argv);
    runs[h.name] = r;
    const wamr = h.name.startsWith("WAMR");
    const aot = h.name.includes("aot");
    // The interpreters' wasm stack is allocated from the pool (the hosts' default: 8 KiB). Sized to the measured
    // high-water mark + 1 KiB (rounded up to 1 KiB), the pool is smaller by the difference, as long as the peak is
    // the running instance (not a loader transient, as with AOT): result.hosts[].poolSized.
    const stack = r.wasmStack && !aot ? Math.ceil((r.wasmStack + 1024) / 1024) * 1024 : undefined;
    const poolSized = stack && r.poolPeak && r.poolPeak === r.poolRunning ? r.poolPeak - (WASM_STACK_DEFAULT - stack) : undefined;
    sized[h.name] = { stack, poolSized };
    // RAM a board needs: linear memory (64 KiB, 1 page) + the runtime's pool (WAMR; with the stack sized if known) +
    // the module kept in RAM (WAMR interpreters run from the loaded, rewritten buffer; AOT code would be XIP from
    // flash) + the C stack (wasm2c); host buffers and Mbed TLS contexts not counted.
    const total = 65536 + (wamr ? (poolSized ?? r.poolPeak ?? 0) + (aot ? 0 : h.moduleBytes ?? fw) : 0) + (r.cStack ?? 0);
    rows.push([h.name, r.registered ? "yes" : "NO", fmt(h.ours), `${fmt(h.runtime)} (${h.runtimeWhat})`,
      wamr ? `${kib(r.poolPeak)} (in use: ${kib(r.poolLoaded)} after load, ${kib(r.poolRunning)} running)` : "–",
      poolSized ? `${kib(poolSized)} (${stack} B stack)` : "–",
      wamr ? `${r.wasmStack ? `${r.wasmStack} B (wasm)` : "native (not measured)"}` : `${r.cStack ?? "–"} B (C, incl. host)`,
      r.rssKiB ? `${r.rssKiB} KiB` : "–", kib(total)]);
  }
  result.hosts = hosts.map((h) => ({ name: h.name, ours: h.ours, runtime: h.runtime, run: runs[h.name], ...sized[h.name] }));
  const m4 = m4Sizes();
  result.cortexM4 = m4;
  const board = emulatedBoard();
  result.emulatedBoard = board;
  mkdirSync(B, { recursive: true });
  writeFileSync(join(B, "size.json"), JSON.stringify(result, null, 2) + "\n");

  const md: string[] = [];
  const say = (line: string) => { md.push(line); console.log(line); };
  say(`Measured on build/firmware.wasm of ${fw.toLocaleString("en")} B (sha256 ${createHash("sha256").update(readFileSync(join(ROOT, "build", "firmware.wasm"))).digest("hex").slice(0, 12)}), one DTLS-PSK registration per host.\n`);
  say("| host | DTLS-PSK registered | our code text / data / bss (B) | runtime text / data / bss (B) | WAMR pool peak (8 KiB wasm stack) | WAMR pool, stack sized to use + 1 KiB | stack used | peak RSS (Linux) | RAM a board needs (est.) |");
  say("|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) say(`| ${r.join(" | ")} |`);
  if (m4) {
    const linked = m4LinkedModuleText();
    result.cortexM4Linked = linked;
    const b = (n: number) => n.toLocaleString("en");
    say(`\nwasm2c for Cortex-M4 (arm-none-eabi-gcc 12 ${M4_FLAGS.filter((f: string) => !f.startsWith("-D")).join(" ")}, unless named), text of the translated module (target <= 120 kB, bounds checks on):\n`);
    say(`| variant | text (B) |\n|---|---|`);
    say(`| stock wasm2c 1.0.32 (64-bit check against the memory's size) | ${b(m4.stock)} |`);
    say(`| the board's: 1 page min = max, 32-bit checks (base, constant offset), udf traps, static linear memory | ${b(m4.board)} |`);
    say(`| the board's, -Oz | ${b(m4.boardOz)} |`);
    say(`| the board's, -O2 | ${b(m4.boardO2)} |`);
    say(`| the board's with GCC's -Os inlining, shrink-wrapping and sibling calls (before ${M4_SIZE_FLAGS.join(" ")}) | ${b(m4.boardGccDefaults)} |`);
    say(`| the board's, -Os -fno-inline (the load/store helpers become calls) | ${b(m4.boardNoInline)} |`);
    say(`| the board's, -Os -flto -ffat-lto-objects (one translation unit: the object's text) | ${b(m4.boardFlto)} |`);
    if (linked) say(`| the board's as linked in lwm2m-m4.elf (--gc-sections; the 1-page copy of the module) | ${b(linked)} |`);
    say(`| no bounds checks (reference only) | ${b(m4.unchecked)} |`);
    const psk = m4ModuleSizes(join(ROOT, "build", "firmware-psk-lpwa.wasm"));
    result.cortexM4PskLpwa = psk;
    if (psk) {
      say(`| the psk-lpwa profile's module (build/firmware-psk-lpwa.wasm, ${b(psk.bytes)} B), the board's form | ${b(psk.board)} |`);
      say(`| the psk-lpwa profile's module, no bounds checks (reference only) | ${b(psk.unchecked)} |`);
    }
  } else say("\narm-none-eabi-gcc missing: no Cortex-M4 figures");
  const aotObjs = [["XIP (--xip)", "firmware-m4-aot-xip.o"], ["not XIP", "firmware-m4-aot.o"]].filter(([, f]) => existsSync(join(B, f)));
  if (aotObjs.length && have("arm-none-eabi-size")) {
    result.cortexM4Aot = Object.fromEntries(aotObjs.map(([k, f]) => [k, sizeOf("arm-none-eabi-size", [join(B, f)])]));
    say(`\nWAMR AOT for Cortex-M4 (wamrc --target=thumbv7em --cpu=cortex-m4 --size-level=3): ${aotObjs.map(([k, f]) => `${k} text ${sizeOf("arm-none-eabi-size", [join(B, f)]).text.toLocaleString("en")} B`).join(", ")}`);
  }
  if (board) {
    say(`\nemulated board (qemu-system-arm -M mps2-an386, -icount shift=0): image text/data/bss ${fmt(board.text)} B; first boot (DRBG instantiation, SE self-test, flash format + mount) ${board.firstBootTicks.toLocaleString("en")} SysTick ticks = ${(board.firstBootTicks * 40).toLocaleString("en")} instructions; boot from formatted flash ${board.secondBootTicks.toLocaleString("en")} ticks = ${(board.secondBootTicks * 40).toLocaleString("en")} instructions; stack high-water ${board.stackBytes} B`);
  }
  console.log(`\nbuild times (s): ${Object.entries(result.builds as Record<string, number>).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(", ")}`);
  if (process.argv.includes("--update-docs")) {
    // boards/README.md's measured tables are this output, between the markers (npm run size:boards -- --update-docs)
    const readme = join(ROOT, "boards", "README.md");
    const text = readFileSync(readme, "utf8");
    const begin = "<!-- size:boards begin -->", end = "<!-- size:boards end -->";
    const i = text.indexOf(begin), j = text.indexOf(end);
    if (i < 0 || j < i) throw new Error(`${readme}: markers ${begin} / ${end} not found`);
    writeFileSync(readme, text.slice(0, i + begin.length) + "\n" + md.join("\n").trim() + "\n" + text.slice(j));
    console.log(`\n${readme} updated`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
