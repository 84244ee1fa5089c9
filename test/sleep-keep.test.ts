// The DTLS connection kept across deep sleep (issue 10 §2 "Beyond resumption",
// LPWA-1; firmware/keep.ts): with sleep mode "keep" prepare_sleep seals the
// connection (both directions' keys, CIDs, replay window) in the store and
// wipes it from RAM; the wake (a new firmware instance on the same flash and
// SE) sends its Update with no handshake at all. The real firmware (Device,
// real UDP) against the development LwM2M Server through a NAT (test/helpers/
// nat.ts), which also records what goes over the wire.
// - with a CID the server finds the connection from the new source port;
// - the kept keys are never in the flash image in clear and are gone from
//   linear memory after prepare_sleep (the client write key computed from the
//   server's key log with the RFC 5246 PRF in node:crypto);
// - the nonce rule: sequence numbers are reserved in the store in blocks before
//   use; a power loss while awake, a second block after 64 records, and a power
//   cut at every flash operation of the wake never make a sequence number (so a
//   CCM nonce) repeat under the kept keys;
// - fallbacks, once: no answer (no CID: the server cannot find the connection
//   from a new port), a tampered record -> the sealed session resumes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Nat } from "./helpers/nat";
import { Device, type FactoryConfig, type SleepModeName } from "../host-shim/node/device";
import type { Clock } from "../host-shim/node/host";
import { flipDataRecord } from "./helpers/store-boot";
import { logText, waitEventName as waitEvent } from "./helpers/device-events";
import { useSecureDevServers } from "./helpers/dev-servers";
import { withNatDevice, type NatRig } from "./helpers/nat-device";

const PSK = Buffer.from("00112233445566778899aabbccddeeff", "hex");
const KEPT_RECORD = 13; // storage/store.ts RecordId.DtlsKeptFirst (12) + connection 1 (the first LwM2M Server)
const TLS12_CID = 25;
const fx = useSecureDevServers("lwm2m-keep-");


type Rig = NatRig<{ connectionId?: number; sleepMode: SleepModeName; clock?: Clock }>;

function config(port: number, endpoint: string): FactoryConfig {
  return {
    endpoint,
    servers: [{ uri: `coaps://127.0.0.1:${port}`, shortServerId: 1, lifetime: 300, securityMode: "psk", pskIdentity: endpoint,
      pskKey: PSK.toString("hex"), communicationRetryCount: 1, communicationSequenceRetryCount: 1 }],
  };
}

async function rig(endpoint: string, opts: Rig["opts"], body: (r: Rig) => Promise<void>): Promise<void> {
  fx.srv.clients.server.psk.set(endpoint, PSK);
  await withNatDevice(Number(new URL(fx.srv.secureServerUri!).port), endpoint, opts, (port) => config(port, endpoint), body);
}

/** Power-up: a new firmware instance on the same flash and SE (a new socket: a new source port). */
function wake(r: Rig): number {
  r.dev.stop();
  r.dev = new Device({ flash: r.flash, se: r.se, ...r.opts });
  const mark = r.dev.logs.length;
  r.dev.start();
  return mark;
}

/** The wake after deep sleep (the NAT forgot the device meanwhile: a new outer port): its Update,
 *  acknowledged; the server's handshake count before and after. */
async function wakeAndUpdate(r: Rig): Promise<{ mark: number; handshakes: number }> {
  const t = fx.srv.serverTransports.secure!;
  const h0 = t.stats.handshakes;
  const upd = new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error("the server saw no Update")), 20000);
    const on = (reg: { endpoint: string }) => { if (reg.endpoint === r.endpoint) { clearTimeout(timer); fx.srv.server.off("updated", on); res(); } };
    fx.srv.server.on("updated", on);
  });
  await r.nat.rebind();
  const mark = wake(r);
  assert.equal(await waitEvent(r.dev, ["updated", "registered"], 20000), "updated");
  await upd;
  return { mark, handshakes: t.stats.handshakes - h0 };
}

/** TLS 1.2 PRF (RFC 5246 5) with HMAC-SHA256. */
function prf(secret: Buffer, label: string, seed: Buffer, n: number): Buffer {
  const s = Buffer.concat([Buffer.from(label, "latin1"), seed]);
  const out: Buffer[] = [];
  let a = s, len = 0;
  while (len < n) {
    a = createHmac("sha256", secret).update(a).digest();
    const p = createHmac("sha256", secret).update(Buffer.concat([a, s])).digest();
    out.push(p);
    len += p.length;
  }
  return Buffer.concat(out).subarray(0, n);
}

/** The client_write_key of the device's session (TLS_PSK_WITH_AES_128_CCM_8: key block = client key,
 *  server key, client IV, server IV), from the server's key log and the ServerHello's random. */
function clientWriteKey(nat: Nat): Buffer {
  const hello = nat.log.find((e) => !e.up && e.d[0] === 22 && e.d[13] === 2)!.d; // ServerHello (RFC 6347 4.2.2)
  const serverRandom = hello.subarray(27, 59);
  const clientHello = nat.log.filter((e) => e.up && e.d[0] === 22 && e.d[13] === 1).at(-1)!.d;
  const clientRandom = clientHello.subarray(27, 59);
  const line = fx.keyLog.find((l) => l.split(" ")[1] === clientRandom.toString("hex"));
  assert.ok(line, "the server's key log line of this session");
  const ms = Buffer.from(line.split(" ")[2], "hex");
  return prf(ms, "key expansion", Buffer.concat([serverRandom, clientRandom]), 40).subarray(0, 16);
}

/** (CID hex, sequence number) of the device's tls12_cid records (RFC 9146 4: type, version, epoch, seq48, cid). */
function cidRecords(nat: Nat, cidLen = 8): { cid: string; seq: number; port: number }[] {
  return nat.log.filter((e) => e.up && e.d[0] === TLS12_CID && e.d.readUInt16BE(3) === 1)
    .map((e) => ({ cid: e.d.subarray(11, 11 + cidLen).toString("hex"), seq: e.d.readUIntBE(5, 6), port: e.outerPort }));
}

test("sleep mode keep with a CID: the wake (new firmware instance, new source port) sends its Update with no handshake; the kept keys are sealed, never in the flash image or RAM in clear", async () => {
  await rig("keep-cid-ep", { connectionId: 4, sleepMode: "keep" }, async (r) => {
    const key = clientWriteKey(r.nat);
    const mem = () => Buffer.from(r.dev.memory.buffer);
    assert.ok(mem().indexOf(key) >= 0, "control: the client write key is found in linear memory while the connection is up");
    const rebinds = fx.srv.serverTransports.secure!.stats.cidRebinds;
    await r.dev.prepareSleep();
    assert.match(logText(r.dev), /connection kept in the sealed store for the wake/);
    assert.equal(mem().indexOf(key), -1, "the client write key left in linear memory after prepare_sleep");
    assert.equal(Buffer.from(r.flash.read(0, r.flash.size) as Uint8Array).indexOf(key), -1, "the client write key in the flash image in clear");
    const before = cidRecords(r.nat);
    const { mark, handshakes } = await wakeAndUpdate(r);
    assert.equal(handshakes, 0, "no handshake at the wake");
    assert.match(logText(r.dev, mark), /connection kept across sleep, no handshake \(sequence numbers \d+ to \d+ reserved; 0 records failed authentication so far\)/);
    assert.doesNotMatch(logText(r.dev, mark), /DTLS: handshake with|DTLS: established/);
    assert.equal(fx.srv.serverTransports.secure!.stats.cidRebinds, rebinds + 1, "the server found the connection by its CID from the new port");
    // the wake's records carry the same server CID, with sequence numbers above the ones used before the sleep
    const after = cidRecords(r.nat).slice(before.length);
    assert.ok(after.length > 0 && after.every((x) => x.cid === before[0].cid), JSON.stringify(after));
    assert.ok(Math.min(...after.map((x) => x.seq)) > Math.max(...before.map((x) => x.seq)));
    assert.equal(mem().indexOf(key) >= 0, true, "control: restored in RAM while awake");
    // the server's answer confirmed the kept connection: it stays (no "no answer" fallback later)
    const h = fx.srv.serverTransports.secure!.stats.handshakes;
    await new Promise((res) => setTimeout(res, 3500));
    assert.doesNotMatch(logText(r.dev, mark), /no answer on the kept connection/);
    assert.equal(fx.srv.serverTransports.secure!.stats.handshakes, h);
  });
});

test("sleep mode keep without a CID: the server cannot find the connection from the new port, no answer: dropped once, the sealed session resumes, the Update is acknowledged", async () => {
  await rig("keep-nocid-ep", { sleepMode: "keep" }, async (r) => {
    await r.dev.prepareSleep();
    const { mark, handshakes } = await wakeAndUpdate(r);
    const log = logText(r.dev, mark);
    assert.match(log, /connection kept across sleep, no handshake/);
    assert.match(log, /no answer on the kept connection, new handshake/);
    assert.match(log, /DTLS: established ssid=1, suite 0xc0a8, resumed/);
    assert.equal(handshakes, 1, "one abbreviated handshake, no loop");
    assert.equal((log.match(/no answer on the kept connection/g) ?? []).length, 1);
  });
});

test("a tampered kept record (one bit): dropped with a log line, the sealed session resumes", async () => {
  await rig("keep-tamper-ep", { connectionId: 4, sleepMode: "keep" }, async (r) => {
    await r.dev.prepareSleep();
    assert.ok(flipDataRecord(r.flash, KEPT_RECORD) >= 1, "the kept record was found in the flash image");
    const { mark, handshakes } = await wakeAndUpdate(r);
    const log = logText(r.dev, mark);
    assert.match(log, /kept connection dropped, the record failed authentication \(tampered or corrupt\): resuming the sealed session/);
    assert.match(log, /DTLS: established ssid=1, suite 0xc0a8, resumed/);
    assert.equal(handshakes, 1);
  });
});

/** A wake whose kept record must be refused: the reason logged, then the sealed session resumes (or a full handshake). */
async function refusedAtWake(r: Rig, why: RegExp, change: () => void): Promise<string> {
  await r.dev.prepareSleep();
  change();
  const mark = wake(r);
  await waitEvent(r.dev, ["updated", "registered"], 20000);
  const log = logText(r.dev, mark);
  assert.match(log, why);
  assert.doesNotMatch(log, /connection kept across sleep/);
  assert.match(log, /DTLS: established ssid=1/);
  return log;
}

test("a kept connection older than the session-age limit (24 h, DTLS-10) at the wake: dropped", async () => {
  await rig("keep-old-ep", { connectionId: 4, sleepMode: "keep" }, async (r) => {
    await refusedAtWake(r, /kept connection dropped, older than the session-age limit \(DTLS-10\)/, () => {
      const clock = r.dev.clock as { wallSeconds(): number };
      const wall = clock.wallSeconds.bind(clock);
      r.opts = { ...r.opts, clock: { monotonicMs: () => Math.floor(performance.now()), wallSeconds: () => wall() + 86400 + 5 } };
    });
  });
});

test("the CID setting turned off across the sleep: the kept record (with a CID) is refused, never restored into a connection without room for it", async () => {
  await rig("keep-cidoff-ep", { connectionId: 4, sleepMode: "keep" }, async (r) => {
    await refusedAtWake(r, /kept connection dropped, malformed record/, () => { r.opts = { sleepMode: "keep" }; });
  });
});

test("sleep mode resume (the default) and full: no kept connection; full drops the sealed session too", async () => {
  await rig("keep-full-ep", { sleepMode: "full" }, async (r) => {
    await r.dev.prepareSleep();
    const { mark, handshakes } = await wakeAndUpdate(r);
    const log = logText(r.dev, mark);
    assert.doesNotMatch(log, /connection kept|offering the stored session/);
    assert.match(log, /DTLS: established ssid=1, suite 0xc0a8(?!, resumed)/);
    assert.equal(handshakes, 1);
  });
  assert.throws(() => new Device({ sleepMode: "nap" as SleepModeName }), /sleepMode/);
});

test("the nonce rule across a second block and a power loss while awake: 70 records on a kept connection reserve another block, and after the power loss the next wake starts above every sequence number used", async () => {
  await rig("keep-block-ep", { connectionId: 4, sleepMode: "keep" }, async (r) => {
    await r.dev.prepareSleep();
    let { mark } = await wakeAndUpdate(r);
    for (let i = 0; i < 70; i++) {
      const res = await fx.srv.server.read(r.endpoint, "/3/0/0");
      assert.equal(res.code, "2.05", `read ${i}`);
    }
    assert.match(logText(r.dev, mark), /kept connection: sequence numbers reserved up to \d+/);
    const used = cidRecords(r.nat);
    const cid = used.at(-1)!.cid;
    const maxUsed = Math.max(...used.filter((x) => x.cid === cid).map((x) => x.seq));
    assert.ok(maxUsed >= 70);
    // power loss while awake: no prepare_sleep; the store holds the last reservation (the
    // registration was not kept either: the wake registers again, inside the kept connection)
    const n0 = used.length;
    mark = wake(r);
    await waitEvent(r.dev, ["registered", "updated"]);
    assert.match(logText(r.dev, mark), /connection kept across sleep, no handshake/);
    const next = cidRecords(r.nat).slice(n0).filter((x) => x.cid === cid);
    assert.ok(next.length > 0);
    assert.ok(Math.min(...next.map((x) => x.seq)) > maxUsed, `the wake reused a sequence number: ${next[0].seq} <= ${maxUsed}`);
  });
});

test("a power cut at every flash operation of a wake's reservation, then a power loss while awake: a sequence number is never used twice under the kept keys", async (t) => {
  const run = async (cut: number): Promise<number> => {
    let ops = 0;
    await rig(`keep-cut-${cut}-ep`, { connectionId: 4, sleepMode: "keep" }, async (r) => {
      await r.dev.prepareSleep();
      const cid = cidRecords(r.nat).at(-1)!.cid;
      // wake B, the flash losing power after `cut` operations (0: never)
      const ops0 = r.flash.stats.programs + r.flash.stats.erases;
      wake(r);
      if (cut) r.flash.cutPowerAfter(cut);
      await waitEvent(r.dev, ["updated"], 2500).catch(() => {});
      ops = r.flash.stats.programs + r.flash.stats.erases - ops0;
      // the power goes while awake (no prepare_sleep); wake C with power
      r.flash.restorePower();
      const mark = wake(r);
      await waitEvent(r.dev, ["updated", "registered"], 20000);
      const seqs = cidRecords(r.nat).filter((x) => x.cid === cid).map((x) => x.seq);
      assert.equal(new Set(seqs).size, seqs.length, `cut at op ${cut}: a sequence number sent twice under the same keys: ${seqs.join(",")}`);
      if (cut === 0) assert.match(logText(r.dev, mark), /connection kept across sleep/, "wake C restored the kept connection");
    });
    return ops;
  };
  const n = await run(0);
  assert.ok(n >= 2, `the wake writes the flash (${n} operations)`);
  t.diagnostic(`a wake with a kept connection: ${n} flash program/erase operations, a power cut at each`);
  for (let cut = 1; cut <= n; cut++) await run(cut);
});

/** A forgery of the server's last record to the device (tls12_cid with the device's 4-byte CID, RFC 9146 4):
 *  a fresh sequence number (so the replay window lets it through) and a flipped tag byte. */
function forged(nat: Nat, seq: number): Buffer {
  const d = nat.log.filter((e) => !e.up && e.d[0] === TLS12_CID).at(-1)!.d;
  const rec = Buffer.from(d.subarray(0, 17 + d.readUInt16BE(15)));
  rec.writeUIntBE(seq, 5, 6);
  rec[rec.length - 1] ^= 0x01;
  return rec;
}

/** n forged records, one datagram each, handled one after the other. */
async function forge(r: Rig, n: number, from: number): Promise<number> {
  for (let i = 0; i < n; i++) {
    await r.nat.toDevice(forged(r.nat, from + i));
    await new Promise((res) => setTimeout(res, 5));
  }
  await new Promise((res) => setTimeout(res, 200));
  return from + n;
}

const TRIPPED = /too many records failed authentication \(DTLS-10\)/;

test("DTLS-10 across reboots: the authentication-failure count of a kept connection survives a sleep exactly and a power loss overstated by at most one block (8); the CCM_8 limit (128) trips on the 128th failure counted over three power-ups; a datagram of 20 forgeries opens only the 8 reserved", async () => {
  await rig("keep-auth-ep", { connectionId: 4, sleepMode: "keep" }, async (r) => {
    await r.dev.prepareSleep();
    let { mark } = await wakeAndUpdate(r);
    // wake 1: 20 failures (reservations at 8 and 16 committed as they are used up), then a clean sleep
    let seq = await forge(r, 20, 1_000_000);
    let log = logText(r.dev, mark);
    assert.match(log, /kept connection: 8 records failed authentication, reserved up to 16/);
    assert.match(log, /kept connection: 16 records failed authentication, reserved up to 24/);
    assert.doesNotMatch(log, TRIPPED);
    await r.dev.prepareSleep();
    // wake 2 restores the count exactly (20; reserved to 28): 10 more, the 28th reserves to 36, then the power goes
    ({ mark } = await wakeAndUpdate(r));
    assert.match(logText(r.dev, mark), /reserved; 20 records failed authentication so far\)/);
    seq = await forge(r, 10, seq);
    assert.match(logText(r.dev, mark), /kept connection: 28 records failed authentication, reserved up to 36/);
    // wake 3 after the power loss: the count is the reservation (36 >= the 30 counted); 91 more are
    // below the limit, the 92nd is the 128th counted (30 real + 6 reserved and unused + 92)
    mark = wake(r);
    await waitEvent(r.dev, ["registered", "updated"]);
    assert.match(logText(r.dev, mark), /connection kept across sleep, no handshake .*reserved; 36 records failed authentication so far\)/);
    seq = await forge(r, 91, seq);
    assert.doesNotMatch(logText(r.dev, mark), TRIPPED, "the limit tripped early: the count after the power loss was overstated by more than one block");
    const again = waitEvent(r.dev, ["registered", "updated"]);
    await forge(r, 1, seq);
    assert.match(logText(r.dev, mark), TRIPPED, "127 + 1 failures counted across three power-ups did not trip the CCM_8 limit");
    // the kept connection is gone with it; the device goes on after a handshake (new keys, new counts)
    await again;
    assert.match(logText(r.dev, mark), /DTLS: established ssid=1, suite 0xc0a8, resumed/);
  });
  await rig("keep-auth-burst-ep", { connectionId: 4, sleepMode: "keep" }, async (r) => {
    await r.dev.prepareSleep();
    const { mark } = await wakeAndUpdate(r);
    // one datagram of 20 forged records: the first 8 are opened and fail, the other 12 are dropped unopened
    // until the next block is committed (a power cut before that commit loses no failure that was counted)
    await r.nat.toDevice(Buffer.concat(Array.from({ length: 20 }, (_, i) => forged(r.nat, 2_000_000 + i))));
    await new Promise((res) => setTimeout(res, 300));
    assert.match(logText(r.dev, mark), /kept connection: 8 records failed authentication, reserved up to 16/);
    // the connection still works
    assert.equal((await fx.srv.server.read(r.endpoint, "/3/0/0")).code, "2.05");
  });
});

test("DTLS-10: a kept record whose count reached the limit (124 failures, 128 reserved, then a power loss) is dropped at the wake: the session resumes with new keys", async () => {
  await rig("keep-auth-limit-ep", { connectionId: 4, sleepMode: "keep" }, async (r) => {
    await r.dev.prepareSleep();
    let { mark } = await wakeAndUpdate(r);
    await forge(r, 124, 3_000_000);
    assert.match(logText(r.dev, mark), /kept connection: 120 records failed authentication, reserved up to 128/);
    assert.doesNotMatch(logText(r.dev, mark), TRIPPED);
    mark = wake(r); // the power goes while awake
    await waitEvent(r.dev, ["registered", "updated"]);
    const log = logText(r.dev, mark);
    assert.match(log, /kept connection dropped, authentication-failure limit \(DTLS-10\): resuming the sealed session/);
    assert.match(log, /DTLS: established ssid=1, suite 0xc0a8, resumed/);
  });
});

test("DTLS-10: a power cut at every flash operation of an authentication-failure reservation: the count at the next wake is never below the failures opened", async (t) => {
  const run = async (cut: number): Promise<number> => {
    let ops = 0;
    await rig(`keep-authcut-${cut}-ep`, { connectionId: 4, sleepMode: "keep" }, async (r) => {
      await r.dev.prepareSleep();
      await wakeAndUpdate(r); // count 0, 8 reserved
      await forge(r, 7, 4_000_000);
      const ops0 = r.flash.stats.programs + r.flash.stats.erases;
      if (cut) r.flash.cutPowerAfter(cut);
      await forge(r, 1, 4_000_007); // the 8th failure: the next block is reserved (cut at op `cut`)
      ops = r.flash.stats.programs + r.flash.stats.erases - ops0;
      await forge(r, 4, 4_000_008); // opened only if the reservation was committed
      const opened = /kept connection: 8 records failed authentication, reserved up to 16/.test(logText(r.dev)) ? 12 : 8;
      r.flash.restorePower();
      const mark = wake(r);
      await waitEvent(r.dev, ["updated", "registered"], 20000);
      const m = /reserved; (\d+) records failed authentication so far\)/.exec(logText(r.dev, mark));
      assert.ok(m, `cut at op ${cut}: the wake restored the kept connection`);
      assert.ok(Number(m[1]) >= opened, `cut at op ${cut}: ${m[1]} failures counted after the power cut, fewer than the ${opened} opened`);
    });
    return ops;
  };
  const n = await run(0);
  assert.ok(n >= 1, `the reservation writes the flash (${n} operations)`);
  t.diagnostic(`an authentication-failure reservation: ${n} flash program/erase operations, a power cut at each`);
  for (let cut = 1; cut <= n; cut++) await run(cut);
});
