// The registration across deep sleep (LPWA-1): prepare_sleep seals each
// registration (Location-Path, lifetime, binding) in the store; the wake's
// first request is an Update to that location, not a Register, while the
// lifetime has not run out by the wall clock; after it, or when the server has
// forgotten the registration (4.04), the device registers again. The real
// firmware (Device, real UDP) against the development LwM2M Server (NoSec).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startDevServers, type DevServers } from "../server/index";
import { Device } from "../host-shim/node/device";
import { NorFlash } from "../host-shim/node/flash";
import { SimulatedSecureElement } from "../host-shim/node/se";
import type { Clock } from "../host-shim/node/host";

class MovableClock implements Clock {
  wallOffset = 0;
  monotonicMs() { return Math.floor(performance.now()); }
  wallSeconds() { return Math.floor(Date.now() / 1000) + this.wallOffset; }
}

async function withServer(fn: (dev: DevServers) => Promise<void>) {
  const dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: "server/dev-config.json", log: false, secure: false });
  try { await fn(dev); } finally { await dev.close(); }
}

const waitEvent = (dev: Device, names: string[], ms = 8000) => new Promise<string>((res, rej) => {
  const t = setTimeout(() => rej(new Error(`no ${names.join("/")}:\n${dev.logs.map((l) => l.text).join("\n")}`)), ms);
  const on = (e: { name: string }) => { if (names.includes(e.name)) { clearTimeout(t); dev.off("event", on); res(e.name); } };
  dev.on("event", on);
});

async function sleepAndWake(srv: DevServers, endpoint: string, between: (clock: MovableClock) => void) {
  const flash = new NorFlash(), se = new SimulatedSecureElement(), clock = new MovableClock();
  let dev = new Device({ flash, se, clock });
  dev.start();
  const reg = waitEvent(dev, ["registered"]);
  dev.provision({ endpoint, servers: [{ uri: srv.serverUri, shortServerId: 1, lifetime: 300 }] });
  await reg;
  const location = srv.server.getRegistration(endpoint)!.id;
  await dev.prepareSleep();
  between(clock);
  dev = new Device({ flash, se, clock });
  let registers = 0, updates = 0;
  const onReg = (r: { endpoint: string }) => { if (r.endpoint === endpoint) registers++; };
  const onUpd = (r: { endpoint: string }) => { if (r.endpoint === endpoint) updates++; };
  srv.server.on("registered", onReg);
  srv.server.on("updated", onUpd);
  try {
    const first = waitEvent(dev, ["registered", "updated"]);
    dev.start();
    const name = await first;
    await new Promise((r) => setImmediate(r));
    return { name, registers, updates, location, log: dev.logs.map((l) => l.text).join("\n") };
  } finally {
    srv.server.off("registered", onReg);
    srv.server.off("updated", onUpd);
    dev.stop();
  }
}

test("after deep sleep the wake's first request is an Update to the kept location (no Register)", async () => {
  await withServer(async (srv) => {
    const r = await sleepAndWake(srv, "sleep-update-ep", () => {});
    assert.equal(r.name, "updated", r.log);
    assert.equal(r.registers, 0);
    assert.equal(r.updates, 1);
    assert.match(r.log, new RegExp(`Update to coap://.* \\(the registration kept across the reboot, /rd/${r.location}\\)`));
    assert.equal(srv.server.getRegistration("sleep-update-ep")!.id, r.location, "the same registration");
  });
});

test("a wake after the lifetime ran out (wall clock) registers again", async () => {
  await withServer(async (srv) => {
    const r = await sleepAndWake(srv, "sleep-expired-ep", (c) => { c.wallOffset = 300; });
    assert.equal(r.name, "registered", r.log);
    assert.doesNotMatch(r.log, /kept across the reboot/);
  });
});

test("a server that forgot the registration (4.04 to the Update): the device registers again, once", async () => {
  await withServer(async (srv) => {
    const r = await sleepAndWake(srv, "sleep-forgot-ep", () => {
      // the server restarts its registrations: the kept location is unknown to it now
      (srv.server as unknown as { byId: Map<string, unknown>; byName: Map<string, unknown> }).byId.clear();
      (srv.server as unknown as { byName: Map<string, unknown> }).byName.clear();
    });
    assert.equal(r.name, "registered", r.log);
    assert.match(r.log, /Update failed \(4\.04.*registering again/);
    assert.equal(r.registers, 1);
  });
});
