// The emulated board: build/firmware.wasm through wasm2c for Cortex-M4 with
// fixed-size memory checks and boards/m4 (a bare-metal runtime of ours, a
// host with HMAC_DRBG + SP 800-90B health tests, RAM NOR flash, a stub SE),
// run under qemu-system-arm -M mps2-an386 with semihosting. It boots twice:
// DRBG health passes, the stub SE's self-test fails and the board says so,
// the flash is formatted and mounted, and the second boot mounts the store
// the first one wrote. A trap (udf) would end in the fault handler's line.
// Then the board makes a full DTLS-PSK handshake and registers: it has no
// network, so its datagrams go to a file and the server's answers come from
// a recording made against the development server, extended one datagram per
// run (the board is deterministic: fixed entropy, -icount).
import { LogDictionary } from "../host-shim/node/log-dictionary";
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers } from "../server/index";
import { BOARDS, requireBoard } from "./helpers/boards";

const ELF = join(BOARDS, "lwm2m-m4.elf");

/** The board's UART text with its log-dictionary markers ("<#id>") decoded, as a developer's PC does. */
function uart(text: string): string {
  const file = join(__dirname, "..", "build", "firmware.wasm.logdict");
  return LogDictionary.decodeMarkers(text, existsSync(file) ? LogDictionary.read(file) : null);
}

test("emulated Cortex-M4 board (mps2-an386): the firmware boots, DRBG healthy, stub SE reported, flash formatted then mounted again, no trap", (t) => {
  if (!requireBoard(t, ELF, "qemu-system-arm")) return;
  const r = spawnSync("qemu-system-arm", ["-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
    "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", ELF], { encoding: "utf8", timeout: 120_000 });
  const out = uart(r.stdout + r.stderr);
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

test("emulated board: a full DTLS-PSK handshake and the LwM2M Register against server flights recorded from the development server", async (t) => {
  if (!requireBoard(t, ELF, "qemu-system-arm")) return;
  const dir = mkdtempSync(join(tmpdir(), "lwm2m-m4-"));
  const dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: join(__dirname, "..", "server", "dev-config.json"), secure: { pkiDir: join(dir, "pki") }, log: () => {} });
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((res) => sock.bind(0, "127.0.0.1", () => res()));
  try {
    const port = Number(new URL(dev.secureServerUri!.replace("coaps:", "http:")).port);
    const answers: Uint8Array[][] = []; // per datagram the board sent: the server's datagrams in reply
    const answersFile = join(dir, "answers.bin"), sentFile = join(dir, "sent.bin");
    let out = "";
    for (let run = 0; run < 12; run++) {
      writeFileSync(answersFile, Buffer.concat(answers.map((list) => Buffer.concat([u16(list.length), ...list.flatMap((d) => [u16(d.length), Buffer.from(d)])]))));
      const r = spawnSync("qemu-system-arm", ["-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", ELF,
        "-append", `dtls ${dev.secureServerUri} ${answersFile} ${sentFile}`], { encoding: "utf8", timeout: 120_000 });
      out = uart(r.stdout + r.stderr);
      assert.doesNotMatch(out, /TRAP|FATAL|bad recording/, out);
      if (r.status === 0) break; // registered
      assert.equal(r.status, 3, out);
      const sent = frames(readFileSync(sentFile));
      // deterministic board: the datagrams already answered are repeated byte for byte
      for (let i = 0; i < answers.length; i++) assert.ok(Buffer.from(sent[i]).equals(Buffer.from(sentBefore[i])), `run ${run}: datagram ${i} differs from the recording`);
      assert.ok(sent.length > answers.length, `run ${run} sent nothing new\n${out}`);
      for (const d of sent.slice(answers.length)) {
        sentBefore.push(d);
        answers.push(await exchange(sock, d, port));
      }
    }
    assert.match(out, /\[info\]\s+DTLS: established ssid=1, suite 0x[0-9a-f]+/, out);
    assert.match(out, /\[event\]\s+registered \(ssid 1\) at \/rd\/\S+, lifetime 300 s/, out);
    const reg = dev.server.getRegistration("lwm2m-wasm-demo");
    assert.ok(reg, "the development server registered the board");
    assert.equal(reg.secure, true);
    assert.deepEqual(reg.identity, { kind: "psk", identity: "lwm2m-wasm-demo" });
    assert.ok(answers.length >= 3 && answers.every((a) => a.length > 0), "every board datagram got an answer");
    const m = /SysTick ticks from provisioning to here: (\d+)/.exec(out);
    assert.ok(m && Number(m[1]) > 0);
    console.log(`emulated board: ${answers.length} datagrams sent, ${m[1]} SysTick ticks (x40 = instructions) from provisioning to registered; ${/stack high-water: \d+ bytes/.exec(out)?.[0]}`);
  } finally {
    sock.close();
    await dev.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

const sentBefore: Uint8Array[] = [];
const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
function frames(b: Buffer): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off + 2 <= b.length;) { const n = b.readUInt16BE(off); out.push(new Uint8Array(b.subarray(off + 2, off + 2 + n))); off += 2 + n; }
  return out;
}
/** Sends one datagram to the server and collects what comes back within a quiet period. */
function exchange(sock: dgram.Socket, d: Uint8Array, port: number): Promise<Uint8Array[]> {
  return new Promise((res) => {
    const got: Uint8Array[] = [];
    let timer = setTimeout(done, 400);
    function onMsg(m: Buffer) { got.push(new Uint8Array(m)); clearTimeout(timer); timer = setTimeout(done, 150); }
    function done() { sock.off("message", onMsg); res(got); }
    sock.on("message", onMsg);
    sock.send(d, port, "127.0.0.1");
  });
}
