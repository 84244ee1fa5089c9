// DTLS sessions across reboot (DTLS-10, SE-2, LPWA-1): the real firmware
// (build/firmware.wasm in Device, real UDP on loopback) against
// `openssl s_server -dtls1_2`. The first boot makes a full PSK handshake and
// seals the session in the store (assembly/firmware/session-store.ts); the
// server ends that connection; the device reboots (the module is
// re-instantiated on the same flash and SE, nothing of the old RAM survives)
// and resumes with an abbreviated handshake: OpenSSL logs "Reused
// session-id". A session record that is tampered, for another account, too
// old, or without a wall clock to age it is dropped: full handshake and a log
// line saying why. The master secret is never in the flash image in clear
// (checked against OpenSSL's own key log).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { startOpensslServer, startPeer, type PeerProcess } from "./helpers/openssl-peer";
import { Device, type FactoryConfig } from "../host-shim/node/device";
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";
import type { Clock } from "../host-shim/node/host";
import { flipDataRecord } from "./helpers/store-boot";

const PSK = Buffer.from("0102030405060708090a0b0c0d0e0f10", "hex");
const IDENTITY = "Client_identity";
const SESSION_RECORD = 4; // storage/store.ts RecordId.DtlsSessionFirst (3) + connection 1 (the first LwM2M Server)
const dir = mkdtempSync(join(tmpdir(), "dtls-persist-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Real monotonic time; the wall clock can be moved (session age) or made unknown (-1). */
class MovableClock implements Clock {
  wallOffset = 0;
  noWall = false;
  monotonicMs() { return Math.floor(performance.now()); }
  wallSeconds() { return this.noWall ? -1 : Math.floor(Date.now() / 1000) + this.wallOffset; }
}

function config(port: number, endpoint = "persist-ep", identity = IDENTITY): FactoryConfig {
  return {
    endpoint,
    servers: [{
      uri: `coaps://127.0.0.1:${port}`, shortServerId: 1, lifetime: 300, securityMode: "psk",
      pskIdentity: identity, pskKey: PSK.toString("hex"), communicationRetryCount: 1, communicationSequenceRetryCount: 1,
    }],
  };
}

const logText = (dev: Device) => dev.logs.map((l) => l.text).join("\n");

function waitLog(dev: Device, re: RegExp, from: number, ms = 8000): Promise<string> {
  return new Promise((res, rej) => {
    const find = () => dev.logs.slice(from).find((l) => re.test(l.text));
    const hit = find();
    if (hit) return res(hit.text);
    const timer = setTimeout(() => { dev.off("log", on); rej(new Error(`no log ${re} in ${ms} ms:\n${logText(dev)}`)); }, ms);
    const on = () => {
      const h = find();
      if (!h) return;
      clearTimeout(timer);
      dev.off("log", on);
      res(h.text);
    };
    dev.on("log", on);
  });
}

interface Rig { srv: PeerProcess; dev: Device; flash: NorFlash; se: SimulatedSecureElement; clock: MovableClock; keylog: string }

async function rig(t: any, extra: string[], body: (r: Rig) => Promise<void>): Promise<void> {
  if (!requirePeer(t, "openssl")) return;
  const keylog = join(dir, `keylog-${Math.random().toString(36).slice(2)}.txt`);
  const srv = await startOpensslServer(["-psk", PSK.toString("hex"), "-psk_identity", IDENTITY, "-nocert",
    "-cipher", "PSK-AES128-CCM8", "-keylogfile", keylog, ...extra]);
  const flash = new NorFlash();
  const se = new SimulatedSecureElement();
  const clock = new MovableClock();
  const dev = new Device({ flash, se, clock });
  try {
    await body({ srv, dev, flash, se, clock, keylog });
  } catch (e) {
    (e as Error).message += `\n--- device log:\n${logText(dev)}\n--- ${srv.commandLine}\n${srv.output}`;
    throw e;
  } finally {
    dev.stop();
    await srv.stop();
  }
}

/** First boot: provision, full handshake, session sealed; then s_server ends the connection ('q'). */
async function firstSession(r: Rig, endpoint?: string, established?: () => Promise<void>): Promise<void> {
  r.dev.start();
  const mark = r.dev.logs.length;
  r.dev.provision(config(r.srv.port, endpoint));
  const est = await waitLog(r.dev, /DTLS: established ssid=1/, mark);
  assert.doesNotMatch(est, /resumed/, "the first handshake is a full one");
  await r.srv.waitFor(/CIPHER is/);
  if (established) await established();
  await endConnection(r);
}

/** The device prepares for deep sleep: close_notify ends s_server's connection (it accepts the next one).
 *  (s_server's own 'q' command closes its UDP socket for DTLS 1.2, so the server cannot end it.) */
async function endConnection(r: Rig): Promise<void> {
  const n = (r.srv.output.match(/DONE/g) ?? []).length;
  await r.dev.prepareSleep();
  await new Promise<void>((res, rej) => {
    const t0 = Date.now();
    const poll = () => {
      if ((r.srv.output.match(/DONE/g) ?? []).length > n) return res();
      if (Date.now() - t0 > 5000) return rej(new Error("s_server did not end the connection"));
      setTimeout(poll, 20);
    };
    poll();
  });
}

/** Power cycle: a new module instance on the same flash and SE; returns the log mark. */
function reboot(r: Rig): number {
  const mark = r.dev.logs.length;
  r.dev.reboot();
  return mark;
}

const reused = (srv: PeerProcess) => (srv.output.match(/Reused session-id/g) ?? []).length;

/** The 48-byte master secret of every session in OpenSSL's key log. */
function masterSecrets(keylog: string): Buffer[] {
  return readFileSync(keylog, "latin1").split("\n").filter((l) => l.startsWith("CLIENT_RANDOM ")).map((l) => Buffer.from(l.split(" ")[2], "hex"));
}

async function resumesAfterReboot(t: any, extra: string[], kind: RegExp) {
  await rig(t, extra, async (r) => {
    let ms: Buffer[] = [];
    await firstSession(r, undefined, async () => {
      // SE-2: the master secret OpenSSL logged is nowhere in the flash image in clear ...
      ms = masterSecrets(r.keylog);
      assert.equal(ms.length, 1);
      assert.equal(Buffer.from(r.flash.read(0, r.flash.size) as Uint8Array).indexOf(ms[0]), -1, "master secret in the flash image in clear");
      // ... nor in linear memory once sealed, while the connection is still up
      assert.match(logText(r.dev), /DTLS: established ssid=1/);
      assert.equal(Buffer.from(r.dev.memory.buffer).indexOf(ms[0]), -1, "master secret left in linear memory after sealing");
    });
    const mark = reboot(r);
    assert.match(await waitLog(r.dev, /offering the stored session/, mark), kind);
    assert.match(await waitLog(r.dev, /DTLS: established ssid=1/, mark), /resumed/);
    await r.srv.waitFor(/Reused session-id/);
    assert.equal(reused(r.srv), 1);
    // the abbreviated handshake used the same master secret (no new CLIENT_RANDOM line with another one)
    for (const m of masterSecrets(r.keylog)) assert.ok(m.equals(ms[0]), "resumed with the stored master secret");
    // the Register went out at once inside the resumed session (s_server prints the CoAP bytes it decrypts)
    await r.srv.waitFor(/rd.*ep=persist-ep|ep=persist-ep/s);
  });
}

test("session ID (s_server -no_ticket): sealed at the first boot, resumed after a reboot (Reused session-id)", async (t) => {
  await resumesAfterReboot(t, ["-no_ticket"], /session ID/);
});

test("RFC 5077 ticket: sealed at the first boot, resumed after a reboot (Reused session-id)", async (t) => {
  await resumesAfterReboot(t, [], /ticket/);
});

test("a tampered session record (one bit): dropped with a log line, full handshake", async (t) => {
  await rig(t, ["-no_ticket"], async (r) => {
    await firstSession(r);
    assert.ok(flipDataRecord(r.flash, SESSION_RECORD) >= 1, "the session record was found in the flash image");
    const mark = reboot(r);
    assert.match(await waitLog(r.dev, /stored session dropped/, mark), /failed authentication \(tampered or corrupt\).*full handshake/);
    assert.doesNotMatch(await waitLog(r.dev, /DTLS: established ssid=1/, mark), /resumed/);
    assert.equal(reused(r.srv), 0);
  });
});

test("a session record of another account (endpoint name changed): dropped as foreign, full handshake", async (t) => {
  await rig(t, ["-no_ticket"], async (r) => {
    await firstSession(r);
    const mark = r.dev.logs.length;
    r.dev.reboot();
    r.dev.provision(config(r.srv.port, "another-ep"));
    assert.match(await waitLog(r.dev, /stored session dropped/, mark), /belongs to another server, identity or endpoint/);
    assert.doesNotMatch(await waitLog(r.dev, /DTLS: established ssid=1/, mark), /resumed/);
    assert.equal(reused(r.srv), 0);
  });
});

test("a session older than the session-age limit (24 h, DTLS-10) across a reboot: dropped, full handshake", async (t) => {
  await rig(t, ["-no_ticket"], async (r) => {
    await firstSession(r);
    r.clock.wallOffset = 86400 + 5; // the device slept a day
    const mark = reboot(r);
    assert.match(await waitLog(r.dev, /stored session dropped/, mark), /older than the session-age limit \(DTLS-10\), age 8640\d s/);
    assert.doesNotMatch(await waitLog(r.dev, /DTLS: established ssid=1/, mark), /resumed/);
    assert.equal(reused(r.srv), 0);
  });
});

test("no wall clock after the reboot: the session age cannot be bounded, dropped, full handshake", async (t) => {
  await rig(t, ["-no_ticket"], async (r) => {
    await firstSession(r);
    r.clock.noWall = true;
    const mark = reboot(r);
    assert.match(await waitLog(r.dev, /stored session dropped/, mark), /no wall clock/);
    assert.doesNotMatch(await waitLog(r.dev, /DTLS: established ssid=1/, mark), /resumed/);
  });
});

test("a rolled-back flash image (an older session record) is refused by the store: never offered", async (t) => {
  await rig(t, [], async (r) => {
    await firstSession(r);
    const old = Buffer.from(r.flash.read(0, r.flash.size) as Uint8Array);
    // the resumed ticket session is sealed again: a later commit moves the SE counter on
    const mark0 = r.dev.logs.length;
    r.dev.reboot();
    await waitLog(r.dev, /DTLS: established ssid=1/, mark0);
    await endConnection(r);
    // the attacker writes the older image back (flash only; the SE counter moved on)
    for (let s = 0; s < r.flash.size; s += r.flash.sectorSize) r.flash.eraseSector(s);
    for (let a = 0; a < r.flash.size; a += 256) r.flash.program(a, old.subarray(a, a + 256));
    const mark = reboot(r);
    assert.ok(r.dev.storeStatus < 0, "the store refuses the rolled-back image");
    assert.match(logText(r.dev).split("\n").slice(mark).join("\n"), /store: REFUSED/);
    await new Promise((res) => setTimeout(res, 300));
    assert.doesNotMatch(r.dev.logs.slice(mark).map((l) => l.text).join("\n"), /offering the stored session|DTLS: established/);
  });
});

test("a power cut at every flash operation while a new session is sealed: the next boot offers the old or the new session, never a damaged one", async (t) => {
  if (!requirePeer(t, "openssl")) return;
  const args = ["s_server", "-dtls1_2", "-accept", "127.0.0.1:{PORT}", "-psk", PSK.toString("hex"), "-psk_identity", IDENTITY, "-nocert", "-cipher", "PSK-AES128-CCM8", "-no_ticket"];
  /** Session A sealed (first s_server); a second s_server on the same port has an empty cache, so the
   *  next boot makes a full handshake and seals session B, with a power cut at flash operation `cut` (0: none). */
  const run = async (cut: number) => {
    const first = await startOpensslServer(args.slice(4));
    const port = first.port;
    const flash = new NorFlash();
    const se = new SimulatedSecureElement();
    const r: Rig = { srv: first, dev: new Device({ flash, se }), flash, se, clock: new MovableClock(), keylog: "" };
    let second: PeerProcess | null = null;
    try {
      await firstSession(r);
      await first.stop();
      second = await startPeer("openssl", args, /ACCEPT/, port);
      r.srv = second;
      const ops0 = flash.stats.programs + flash.stats.erases;
      const mark = reboot(r);
      if (cut) flash.cutPowerAfter(cut);
      assert.doesNotMatch(await waitLog(r.dev, /DTLS: established ssid=1/, mark), /resumed/);
      await new Promise((res) => setTimeout(res, 100));
      const ops = flash.stats.programs + flash.stats.erases - ops0;
      await r.dev.prepareSleep();
      flash.restorePower();
      const mark2 = reboot(r);
      const line = r.dev.logs.slice(mark2).map((l) => l.text).join("\n");
      assert.doesNotMatch(line, /stored session dropped/, `cut at op ${cut}`);
      assert.match(line, /offering the stored session \(session ID/, `cut at op ${cut}: the old or the new session is offered`);
      return ops;
    } catch (e) {
      (e as Error).message += `\n--- device log:\n${logText(r.dev)}`;
      throw e;
    } finally {
      r.dev.stop();
      await first.stop();
      await second?.stop();
    }
  };
  const n = await run(0); // how many program/erase operations sealing session B takes
  assert.ok(n >= 1, "sealing the session writes the flash");
  t.diagnostic(`sealing a session: ${n} flash program/erase operations, a power cut at each`);
  for (let cut = 1; cut <= n; cut++) await run(cut);
});
