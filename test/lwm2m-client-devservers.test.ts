// The firmware's LwM2M client against the development servers (server/: an
// independent TypeScript CoAP stack and LwM2M Bootstrap-Server / Server) over
// real UDP on loopback, NoSec (the DTLS modes come with the DTLS transport):
// factory bootstrap account -> Bootstrap-Request -> Bootstrap-Delete /
// -Discover / -Write -> Finish -> Register, then Read, Write (Update with the
// new lifetime), Execute, Discover, Create with a Block1 upload, Delete,
// Write-Attributes, Observe with notifications, Cancel, De-register.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startDevServers, type DevServers } from "../server/index";
import { Device, type ClientEvent } from "../host-shim/node/device";

function waitFor<T>(emitter: { once(ev: string, f: (x: T) => void): unknown }, ev: string, ms = 5000): Promise<T> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`timed out waiting for '${ev}'`)), ms);
    emitter.once(ev, (x: T) => { clearTimeout(t); res(x); });
  });
}

test("NoSec: bootstrap, register, device management and reporting through the development servers", async () => {
  const lines: string[] = [];
  const dev: DevServers = await startDevServers({
    bootstrapPort: 0, serverPort: 0, config: `${__dirname}/../server/dev-config.json`, log: (l) => { lines.push(l); },
    coap: { blockSzx: 1 }, // 32-byte blocks: uploads go block-wise
  });
  const d = new Device();
  let fatal: unknown = null;
  d.on("fatal", (e) => { fatal = e; });
  const ep = "wasm-e2e";
  try {
    assert.equal(d.start(), 7);
    const registered = waitFor(dev.server, "registered");
    const bootstrapped = waitFor<ClientEvent>(d, "bootstrapped");
    d.provision({ endpoint: ep, bootstrap: { uri: dev.bootstrapUri } });
    await bootstrapped;
    await registered;
    assert.ok(lines.some((l) => /Bootstrap-Request from .*pct=112/.test(l)), lines.join("\n"));
    const reg = dev.server.getRegistration(ep)!;
    assert.ok(reg, "the server keeps the registration");

    const r = await dev.server.read(ep, "/3/0");
    assert.equal(r.code, "2.05");
    assert.equal(r.content!.find((e) => e.path === "/3/0/0")!.value, "lwm2m-wasm");
    assert.equal((await dev.server.read(ep, "/0/0")).code, "4.04", "SEC-2");
    assert.equal((await dev.server.read(ep, "/1/0/1", { format: "senml-cbor" })).content![0].value, 300);

    const updated = waitFor<ClientEvent>(d, "updated");
    assert.equal((await dev.server.write(ep, "/1/0/1", 120)).code, "2.04");
    assert.equal((await updated).arg, 120, "Update with the new lifetime");

    const disc = await dev.server.discover(ep, "/1/0");
    assert.equal(disc.code, "2.05");
    assert.ok(disc.links!.some((l) => l.uri === "/1/0/1"), JSON.stringify(disc.links));

    const created = waitFor<ClientEvent>(d, "updated");
    const c = await dev.server.create(ep, "/16", { id: 1, resources: { 0: ["first-identity-of-the-device", "second-identity-abc"] } });
    assert.equal(c.code, "2.01", "Create with a Block1 upload");
    await created;
    const p = await dev.server.read(ep, "/16/1/0", { format: "senml-json" });
    assert.deepEqual(p.content!.map((e) => e.value), ["first-identity-of-the-device", "second-identity-abc"]);
    assert.equal((await dev.server.delete(ep, "/16/1")).code, "2.02");

    d.setResource(3, 0, 9, 90);
    assert.equal((await dev.server.writeAttributes(ep, "/3/0/9", { pmin: 0, st: 5 })).code, "2.04");
    const values: unknown[] = [];
    const h = await dev.server.observe(ep, "/3/0/9", (n) => { values.push(n.content?.[0]?.value); });
    const sent = waitFor<ClientEvent>(d, "notification");
    d.setResource(3, 0, 9, 88); // below st
    d.setResource(3, 0, 9, 80); // -10 from the last notified value
    assert.equal((await sent).text, "/3/0/9");
    await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(values, [80]);
    await h.cancel();

    const trig = waitFor<ClientEvent>(d, "updated");
    assert.equal((await dev.server.execute(ep, "/1/0/8")).code, "2.04");
    await trig;

    const gone = waitFor(dev.server, "deregistered");
    await d.shutdown(3000);
    await gone;
    assert.equal(fatal, null);
  } finally {
    d.stop();
    await dev.close();
  }
});
