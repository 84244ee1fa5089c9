// Observations across deep sleep (issue 10; firmware/observe-store.ts): a wake
// that continues the registration (Update) continues its observations. The
// real firmware (Device, real UDP) against the development LwM2M Server, which
// observes; power-cycled the way `device --sleep` does it (prepare_sleep, a new
// firmware instance on the same flash and SE, a new source port).
// - DTLS-PSK in sleep modes resume and keep: after the wake the server keeps
//   receiving notifications on the observation it made before the sleep (its
//   token), Observe numbers increasing, pmin / pmax honoured, a value changed
//   just before the sleep notified at wake; tshark (Wireshark's CoAP dissector,
//   the DTLS records decrypted with the server's key log) is the independent
//   check of the token and the Observe option;
// - a tampered observation record: Register instead of Update, with a log line;
// - a power cut at every flash operation of prepare_sleep's write: the wake
//   either continues the observations (new table) or registers again (none:
//   the previous table was used once, at the previous wake); never an Update
//   without its observations;
// - a CON notification unacknowledged at power-off goes again at wake with the
//   next Observe number; nothing is notified before the wake's Update is
//   acknowledged (its first copy lost); a wake that cannot delete the kept
//   records registers instead (they could bring back used Observe numbers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { natPcap } from "./helpers/nat";
import type { Notification } from "../server/lwm2m-server";
import { Device, type FactoryConfig, type SleepModeName } from "../host-shim/node/device";
import type { Clock } from "../host-shim/node/host";
import { logText, waitEventName as waitEvent } from "./helpers/device-events";
import { flipDataRecord } from "./helpers/store-boot";
import { useSecureDevServers } from "./helpers/dev-servers";
import { withNatDevice, type NatRig } from "./helpers/nat-device";

const PSK = Buffer.from("00112233445566778899aabbccddeeff", "hex");
const OBS_RECORD = 19; // storage/store.ts RecordId.ObservationsFirst (18) + connection 1 (the first LwM2M Server)
const fx = useSecureDevServers("lwm2m-obs-sleep-");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seen { seq: number; value: unknown; at: number; code: string }
function valueOf(n: Notification): unknown { return n.content?.[0]?.value; }

type Rig = NatRig<{ connectionId?: number; sleepMode?: SleepModeName; clock?: Clock }>;

function config(uri: string, endpoint: string, secure: boolean, lifetime = 300): FactoryConfig {
  return {
    endpoint,
    servers: [{ uri, shortServerId: 1, lifetime, ...(secure ? { securityMode: "psk" as const, pskIdentity: endpoint, pskKey: PSK.toString("hex") } : {}),
      communicationRetryCount: 1, communicationSequenceRetryCount: 1 }],
  };
}

async function rig(endpoint: string, secure: boolean, opts: Rig["opts"], body: (r: Rig) => Promise<void>, lifetime = 300): Promise<void> {
  if (secure) fx.srv.clients.server.psk.set(endpoint, PSK);
  const port = Number(new URL(secure ? fx.srv.secureServerUri! : fx.srv.serverUri).port);
  await withNatDevice(port, endpoint, opts, (natPort) => config(`${secure ? "coaps" : "coap"}://127.0.0.1:${natPort}`, endpoint, secure, lifetime), body);
}

/** Power-up after deep sleep: the NAT forgot the device (new outer port); a new firmware instance. */
async function wake(r: Rig): Promise<{ mark: number; first: string }> {
  await r.nat.rebind();
  r.dev.stop();
  r.dev = new Device({ flash: r.flash, se: r.se, ...r.opts });
  const mark = r.dev.logs.length;
  const first = waitEvent(r.dev, ["updated", "registered"], 20000);
  r.dev.start();
  return { mark, first: await first };
}

/** The server observes `path` with pmin / pmax; the notifications it receives on that observation. */
async function observeAt(r: Rig, path: string, pmin: number, pmax: number): Promise<Seen[]> {
  const seen: Seen[] = [];
  const w = await fx.srv.server.writeAttributes(r.endpoint, path, { pmin, pmax });
  assert.equal(w.code, "2.04");
  const h = await fx.srv.server.observe(r.endpoint, path, (n) => { seen.push({ seq: n.observe!, value: valueOf(n), at: Date.now(), code: n.code }); });
  assert.ok(h.established, "the observation was accepted");
  seen.push({ seq: h.response.observe!, value: valueOf(h.response as Notification), at: Date.now(), code: h.response.code });
  return seen;
}
/** The battery level (/3/0/9, set by the application at each boot). */
async function observeBattery(r: Rig, pmin: number, pmax: number): Promise<Seen[]> {
  r.dev.setResource(3, 0, 9, 50);
  return observeAt(r, "/3/0/9", pmin, pmax);
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

for (const mode of ["resume", "keep"] as const) {
  test(`DTLS-PSK, sleep mode ${mode}: after the wake (Update) the server's observation goes on: same token, Observe increasing, pmin / pmax honoured, a value changed just before the sleep notified at wake (tshark checks token and Observe)`, async (t) => {
    const ep = `obs-sleep-${mode}-ep`;
    await rig(ep, true, { sleepMode: mode, connectionId: mode === "keep" ? 4 : undefined }, async (r) => {
      // /1/0/3 (Default Maximum Period): a value that lives in the sealed configuration, so the wake
      // has it without the application setting anything (which would itself be a change)
      const PMIN = 1, PMAX = 3, PATH = "/1/0/3";
      assert.equal((await fx.srv.server.write(r.endpoint, PATH, 40)).code, "2.04");
      const seen = await observeAt(r, PATH, PMIN, PMAX);
      assert.equal((await fx.srv.server.write(r.endpoint, PATH, 61)).code, "2.04");
      await until(() => seen.some((s) => s.value === 61), 5000, "the notification of 61");
      // changed just after a notification: pmin holds it back; the device sleeps before pmin passes
      assert.equal((await fx.srv.server.write(r.endpoint, PATH, 42)).code, "2.04");
      await r.dev.prepareSleep();
      assert.match(logText(r.dev), /observations: ssid=1: 1 observations and 1 attribute entries kept for the wake/);
      const before = seen.length;
      const lastSeq = seen.at(-1)!.seq;
      assert.ok(!seen.some((s) => s.value === 42), "42 was not notified before the sleep");
      await sleep(500);
      const { mark, first } = await wake(r);
      assert.equal(first, "updated", "the wake continues the registration");
      const log = logText(r.dev, mark);
      assert.match(log, /observations: ssid=1: 1 observations and 1 attribute entries kept across the reboot \(asleep \d+ s\), held until the Update is acknowledged/);
      if (mode === "keep") assert.match(log, /connection kept across sleep, no handshake/);
      else assert.match(log, /DTLS: established ssid=1, suite 0xc0a8, resumed/);
      const woke = Date.now();
      await until(() => seen.slice(before).some((s) => s.value === 42), 5000, "the value changed before the sleep, notified at wake").catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(seen)} ${JSON.stringify(r.dev.events)}`);
      });
      const wakeNote = seen.slice(before).find((s) => s.value === 42)!;
      assert.ok(wakeNote.seq > lastSeq, `Observe ${wakeNote.seq} after ${lastSeq}`);
      assert.ok(wakeNote.at - woke < 2000, "notified at wake, not at pmax");
      // pmax: with no change, notifications every PMAX s on the same observation
      await until(() => seen.length >= before + 3, (2 * PMAX + 3) * 1000, "two pmax notifications after the wake");
      const after = seen.slice(before);
      for (let i = 1; i < after.length; i++) {
        assert.ok(after[i].seq > after[i - 1].seq, `Observe increasing: ${after.map((s) => s.seq).join(",")}`);
        const gap = after[i].at - after[i - 1].at;
        assert.ok(gap >= PMIN * 1000 - 150, `pmin: ${gap} ms between notifications`);
        assert.ok(gap <= PMAX * 1000 + 1500, `pmax: ${gap} ms between notifications`);
      }
      assert.ok(after.every((s) => s.code === "2.05" && s.value === 42));
      assert.doesNotMatch(logText(r.dev, mark), /Register to/);

      if (!requirePeer(t, "tshark")) return;
      const cap = join(fx.dir, `${ep}.pcap`), kl = join(fx.dir, `${ep}-keylog.txt`);
      writeFileSync(cap, natPcap(r.nat.log));
      writeFileSync(kl, fx.keyLog.join("\n") + "\n");
      const rows = execFileSync("tshark", ["-r", cap, "-o", `tls.keylog_file:${kl}`, "-d", "udp.port==5684,dtls", "-Y", "coap",
        "-T", "fields", "-E", "separator=|", "-e", "udp.srcport", "-e", "coap.code", "-e", "coap.token", "-e", "coap.opt.observe"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim().split("\n").map((l) => l.split("|"));
      const all = rows.map((x) => x.join("|")).join("\n");
      // the server's GET with Observe=0 (code 1) and the device's 2.05 (69) with an Observe option
      const register = rows.filter((x) => x[0] === "5684" && x[1] === "1" && x[3] === "0");
      assert.equal(register.length, 1, all);
      const token = register[0][2];
      const notes = rows.filter((x) => x[0] !== "5684" && x[1] === "69" && x[3] !== "");
      assert.ok(notes.length >= seen.length, `tshark sees every notification:\n${all}`);
      assert.ok(notes.every((x) => x[2] === token), `every notification on the token ${token}:\n${all}`);
      const seqs = notes.map((x) => Number(x[3]));
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `Observe increasing on the wire: ${seqs.join(",")}`);
      const ports = new Set(notes.map((x) => x[0]));
      assert.ok(ports.size >= 2, "notifications from before and after the wake (two source ports)");
      t.diagnostic(`tshark: ${notes.length} notifications on token ${token}, Observe ${seqs.join(",")}`);
    });
  });
}


test("a tampered observation record (one bit): the wake registers again instead of Update, with a log line; the server observes anew", async () => {
  await rig("obs-tamper-ep", false, {}, async (r) => {
    await observeBattery(r, 0, 0);
    await r.dev.prepareSleep();
    assert.ok(flipDataRecord(r.flash, OBS_RECORD) >= 1, "the observation record was found in the flash image");
    const { mark, first } = await wake(r);
    assert.equal(first, "registered");
    assert.match(logText(r.dev, mark), /observations: ssid=1: kept observations dropped, the record failed authentication \(tampered or corrupt\), status -\d+: Register instead of Update/);
    // the new registration starts without observations: a change notifies nobody
    r.dev.setResource(3, 0, 9, 17);
    await sleep(300);
    assert.ok(!r.dev.events.some((e) => e.name === "notification"), "no notification after the Register");
  });
});

test("without a tamper the same NoSec wake continues (control for the tamper test): Update, then the notification of a change", async () => {
  await rig("obs-control-ep", false, {}, async (r) => {
    const seen = await observeBattery(r, 0, 0);
    await r.dev.prepareSleep();
    const { first } = await wake(r);
    assert.equal(first, "updated");
    const n = seen.length;
    r.dev.setResource(3, 0, 9, 18);
    await until(() => seen.length > n && seen.at(-1)!.value === 18, 5000, "the notification after the wake");
    assert.ok(seen.at(-1)!.seq > seen[n - 1].seq);
  });
});

test("a power cut at every flash operation of prepare_sleep's write: the wake continues the observations (the new table) or registers again (none); never an Update without them", async (t) => {
  const run = async (cut: number): Promise<{ ops: number; outcome: string }> => {
    let ops = 0, outcome = "";
    await rig(`obs-cut-${cut}-ep`, false, {}, async (r) => {
      const seen = await observeBattery(r, 0, 0);
      const ops0 = r.flash.stats.programs + r.flash.stats.erases;
      if (cut) r.flash.cutPowerAfter(cut);
      await r.dev.prepareSleep();
      ops = r.flash.stats.programs + r.flash.stats.erases - ops0;
      r.flash.restorePower();
      const { mark, first } = await wake(r);
      outcome = first;
      const log = logText(r.dev, mark);
      if (first === "updated") {
        assert.match(log, /1 observations and 1 attribute entries kept across the reboot/, `cut ${cut}: an Update must carry on the observations`);
        const n = seen.length;
        r.dev.setResource(3, 0, 9, 33);
        await until(() => seen.length > n && seen.at(-1)!.value === 33, 5000, `cut ${cut}: the notification after the wake`);
        assert.ok(seen.at(-1)!.seq > seen[n - 1].seq);
      } else {
        assert.doesNotMatch(log, /kept across the reboot/, `cut ${cut}: a Register restores nothing`);
      }
    });
    return { ops, outcome };
  };
  const { ops: n, outcome } = await run(0);
  assert.equal(outcome, "updated");
  assert.ok(n >= 2, `prepare_sleep writes the flash (${n} operations)`);
  const outcomes: string[] = [];
  for (let cut = 1; cut <= n; cut++) outcomes.push((await run(cut)).outcome);
  t.diagnostic(`prepare_sleep (NoSec, one observation): ${n} flash program/erase operations; wake after a cut at each: ${outcomes.join(", ")}`);
  assert.ok(outcomes.includes("registered"), "some cut lands before the commit");
});

class MovableClock implements Clock {
  wallOffset = 0;
  monotonicMs() { return Math.floor(performance.now()); }
  wallSeconds() { return Math.floor(Date.now() / 1000) + this.wallOffset; }
}

/** CoAP header of a NoSec datagram: type (0 CON, 1 NON, 2 ACK), code, and the Observe option when it is the first option. */
function coapHead(d: Buffer): { type: number; code: number; observe?: number } {
  const type = (d[0] >> 4) & 3, code = d[1], tkl = d[0] & 15;
  const o = 4 + tkl;
  if (o >= d.length || d[o] === 0xff || d[o] >> 4 !== 6) return { type, code };
  const n = d[o] & 15;
  let v = 0;
  for (let i = 1; i <= n; i++) v = v * 256 + d[o + i];
  return { type, code, observe: v };
}

test("a CON notification not acknowledged at power-off is sent again at wake with the next Observe number (never a duplicate); the 24 h CON rule (RFC 7641 4.5) runs across the sleep", async () => {
  const clock = new MovableClock();
  await rig("obs-unacked-ep", false, { clock }, async (r) => {
    const PATH = "/1/0/3";
    assert.equal((await fx.srv.server.write(r.endpoint, PATH, 40)).code, "2.04");
    const seen = await observeAt(r, PATH, 0, 0);
    // sleep 1 lasts a day (wall clock): at wake 1 the observer's last confirmation is 24 h old, so the
    // next notification is confirmable; the NAT loses the empty ACKs to the device
    await r.dev.prepareSleep();
    clock.wallOffset += 86400 + 60;
    r.nat.dropDown = (d) => d.length === 4 && coapHead(d).type === 2 && d[1] === 0;
    const w1 = await wake(r);
    assert.equal(w1.first, "updated", logText(r.dev, w1.mark));
    const n0 = seen.length;
    assert.equal((await fx.srv.server.write(r.endpoint, PATH, 41)).code, "2.04");
    await until(() => seen.length > n0, 5000, "the notification of 41");
    const up = () => r.nat.log.filter((e) => e.up).map((e) => coapHead(e.d)).filter((h) => h.code === 69 && h.observe !== undefined);
    const con = up().filter((h) => h.type === 0);
    assert.equal(con.length, 1, "the notification after a day is confirmable");
    const unacked = con[0].observe!;
    // power-off while it waits for its ACK (before the first retransmission, 2-3 s)
    await r.dev.prepareSleep();
    r.nat.dropDown = null;
    const sent = up().length;
    const w2 = await wake(r);
    assert.equal(w2.first, "updated", logText(r.dev, w2.mark));
    // nothing changed since, yet the unacknowledged value goes again, with the next number
    await until(() => up().length > sent, 5000, "the unacknowledged notification again at wake 2");
    const again = up().slice(sent);
    assert.ok(again[0].observe! > unacked, `Observe ${again[0].observe} after the unacknowledged ${unacked}`);
    const all = up().map((h) => h.observe!);
    assert.equal(new Set(all).size, all.length, `an Observe number sent twice: ${all.join(",")}`);
    assert.equal(seen.at(-1)!.value, 41);
  }, 100000);
});

test("the wake's Update lost once: no notification goes before the Update's 2.04 (the server would not know the new address), then the one due goes on the same observation", async () => {
  await rig("obs-held-ep", false, {}, async (r) => {
    const PATH = "/1/0/3";
    assert.equal((await fx.srv.server.write(r.endpoint, PATH, 40)).code, "2.04");
    const seen = await observeAt(r, PATH, 1, 0);
    assert.equal((await fx.srv.server.write(r.endpoint, PATH, 41)).code, "2.04"); // within pmin: held back
    await r.dev.prepareSleep();
    const n = seen.length;
    let lost = 0;
    r.nat.dropUp = (d) => coapHead(d).type === 0 && coapHead(d).code === 2 && lost++ === 0; // the first CON POST: the Update
    const from = r.nat.log.length;
    const { first } = await wake(r);
    assert.equal(first, "updated");
    assert.equal(lost, 2, "the Update was lost once, then retransmitted");
    await until(() => seen.length > n, 5000, "the notification of 41 after the Update");
    assert.equal(seen.at(-1)!.value, 41);
    assert.ok(seen.at(-1)!.seq > seen[n - 1].seq);
    // on the wire: the first notification after the Update's 2.04 (68), none before it
    const wire = r.nat.log.slice(from).map((e) => ({ up: e.up, ...coapHead(e.d) }));
    const changed = wire.findIndex((h) => !h.up && h.code === 68);
    const note = wire.findIndex((h) => h.up && h.code === 69);
    assert.ok(changed >= 0 && note > changed, `a notification before the Update's 2.04: ${JSON.stringify(wire)}`);
  });
});

test("the wake cannot delete the kept records (flash dead at its first operation): Register, not Update; after a later power loss the old table never comes back to reuse Observe numbers", async () => {
  await rig("obs-nodelete-ep", false, {}, async (r) => {
    const PATH = "/1/0/3";
    assert.equal((await fx.srv.server.write(r.endpoint, PATH, 40)).code, "2.04");
    await observeAt(r, PATH, 0, 0);
    await r.dev.prepareSleep();
    // wake A: the flash loses power at its first program / erase (the deletion of the kept records)
    await r.nat.rebind();
    r.dev.stop();
    r.dev = new Device({ flash: r.flash, se: r.se, ...r.opts });
    const mark = r.dev.logs.length;
    r.flash.cutPowerAfter(1);
    const first = waitEvent(r.dev, ["updated", "registered"], 20000);
    r.dev.start();
    assert.equal(await first, "registered", logText(r.dev, mark));
    assert.match(logText(r.dev, mark), /the records kept across sleep could not be deleted .*Register instead of Update/);
    // wake B after a power loss while awake (no prepare_sleep): whatever the flash holds, the wake's
    // Observe numbers on the wire never repeat one sent before under the same token
    r.flash.restorePower();
    const w = await wake(r);
    assert.ok(w.first === "registered" || w.first === "updated");
    const notes = r.nat.log.filter((e) => e.up).map((e) => ({ h: coapHead(e.d), tok: e.d.subarray(4, 4 + (e.d[0] & 15)).toString("hex") }))
      .filter((x) => x.h.code === 69 && x.h.observe !== undefined).map((x) => `${x.tok}/${x.h.observe}`);
    assert.equal(new Set(notes).size, notes.length, notes.join(","));
  });
});
