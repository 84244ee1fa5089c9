// The C hosts built by scripts/build-boards.mjs (npm run build:boards; npm test's
// pretest builds them when the toolchains are there). A missing binary or
// emulator skips its test LOUDLY; under REQUIRE_PEERS=1 (CI) it fails.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { havePeer } from "./peers";

export const BOARDS = join(__dirname, "..", "..", "build", "boards");

export interface BoardHost {
  name: string;
  /** command and leading arguments; the host's own arguments follow */
  argv: string[];
  binary: string;
  emulator?: string;
  /** Built by its own command, not by npm test's pretest (WAMR AOT: wamrc takes minutes to build; .ci/run builds it). */
  separateBuild?: string;
}

export const HOSTS: BoardHost[] = [
  { name: "WAMR classic interpreter", binary: join(BOARDS, "lwm2m-wamr-classic"), argv: [join(BOARDS, "lwm2m-wamr"), "--interp", "classic"] },
  { name: "WAMR fast interpreter", binary: join(BOARDS, "lwm2m-wamr-fast"), argv: [join(BOARDS, "lwm2m-wamr"), "--interp", "fast"] },
  { name: "WAMR AOT (wamrc, x86-64)", binary: join(BOARDS, "lwm2m-wamr-aot"), argv: [join(BOARDS, "lwm2m-wamr"), "--interp", "aot"],
    separateBuild: "node scripts/build-boards.mjs --only aot" },
  { name: "WAMR classic interpreter, 32-bit ARM under qemu-arm", binary: join(BOARDS, "lwm2m-wamr-classic-armhf"), argv: ["qemu-arm", join(BOARDS, "lwm2m-wamr-classic-armhf")], emulator: "qemu-arm" },
  { name: "WAMR AOT (wamrc, armv7), 32-bit ARM under qemu-arm", binary: join(BOARDS, "lwm2m-wamr-aot-armhf"), argv: ["qemu-arm", join(BOARDS, "lwm2m-wamr-aot-armhf")], emulator: "qemu-arm",
    separateBuild: "node scripts/build-boards.mjs --only aot" },
  { name: "wasm2c x86-64", binary: join(BOARDS, "lwm2m-wasm2c"), argv: [join(BOARDS, "lwm2m-wasm2c")] },
  { name: "wasm2c 32-bit ARM under qemu-arm", binary: join(BOARDS, "lwm2m-wasm2c-armhf"), argv: ["qemu-arm", join(BOARDS, "lwm2m-wasm2c-armhf")], emulator: "qemu-arm" },
];

/** True when the host's binary (and emulator) are there; otherwise skips loudly, or fails under REQUIRE_PEERS=1. */
export function requireBoard(t: TestContext, binary: string, emulator?: string, separateBuild?: string): boolean {
  let msg = "";
  if (!existsSync(binary)) msg = `BOARD HOST MISSING: ${binary} is not built; run '${separateBuild ?? "npm run build:boards"}' (toolchains: see .ci/run)`;
  else if (emulator && !havePeer(emulator)) msg = `PEER MISSING: '${emulator}' is not installed (see .ci/run)`;
  if (!msg) return true;
  if (process.env.REQUIRE_PEERS === "1") throw new Error(msg + " (REQUIRE_PEERS=1)");
  console.error(`\n*** ${msg} — SKIPPING ***\n`);
  t.skip(msg);
  return false;
}

/** Whether a loop over HOSTS passes over this host: one built separately and not built here, outside CI. */
export const notBuiltHere = (host: BoardHost): boolean => !!host.separateBuild && !existsSync(host.binary) && process.env.REQUIRE_PEERS !== "1";
