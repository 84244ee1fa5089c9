// The emulated board: build/firmware.wasm through wasm2c for Cortex-M4 with
// fixed-size memory checks and boards/m4 (a bare-metal runtime of ours, a
// host with HMAC_DRBG + SP 800-90B health tests, RAM NOR flash, a stub SE),
// run under qemu-system-arm -M mps2-an386 with semihosting. It boots twice:
// DRBG health passes, the stub SE's self-test fails and the board says so,
// the flash is formatted and mounted, and the second boot mounts the store
// the first one wrote. A trap (udf) would end in the fault handler's line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { BOARDS, requireBoard } from "./helpers/boards";

const ELF = join(BOARDS, "lwm2m-m4.elf");

test("emulated Cortex-M4 board (mps2-an386): the firmware boots, DRBG healthy, stub SE reported, flash formatted then mounted again, no trap", (t) => {
  if (!requireBoard(t, ELF, "qemu-system-arm")) return;
  const r = spawnSync("qemu-system-arm", ["-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
    "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", ELF], { encoding: "utf8", timeout: 120_000 });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  assert.doesNotMatch(out, /TRAP|FATAL/);
  assert.match(out, /entropy is a fixed xorshift .* the SE is a stub/, "the board says what is simulated");
  assert.equal((out.match(/\[info\]\s+DRBG: health tests passed/g) ?? []).length, 2, out);
  assert.match(out, /\[error\]\s+SE: self-test failed/);
  assert.match(out, /\[info\]\s+flash: no valid superblock, formatted/);
  assert.equal((out.match(/\[info\]\s+store: mounted, records: 0/g) ?? []).length, 2, out);
  assert.match(out, /boot status: DRBG ok, SE FAILED \(stub SE, no P-256\), flash ok; again from flash: flash ok/);
  const m = /first boot (\d+), second boot (\d+)/.exec(out);
  assert.ok(m && Number(m[1]) > 0 && Number(m[2]) > 0, "both boots took measurable time");
  assert.match(out, /stack high-water: \d+ bytes/);
});
