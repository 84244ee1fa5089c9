// The firmware's DTLS Connection ID (RFC 9146; issue 10 §3, the configuration
// path): the device setting `connectionId` (CLI `device --cid N`, ABI
// set_connection_id) reaches the firmware's DtlsConfig. The real firmware
// (Device, real UDP) against the development LwM2M Server (our server role,
// server/transport.ts) through a NAT in the test: after the Register the NAT
// rebinds (the device's source port seen by the server changes), the session
// is kept with no handshake (found by its CID) and the lifetime Update is
// acknowledged. tshark (Wireshark's RFC 9146 dissector) is the oracle: with
// the server's key log it finds extension 54 in the hellos and decrypts the
// tls12_cid records from both source ports. CID is off by default, offered
// with the CCM_8 suites only, and an out-of-range length is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { Nat, natPcap } from "./helpers/nat";
import { Device, type FactoryConfig } from "../host-shim/node/device";
import { logText, waitEvent } from "./helpers/device-events";
import { useSecureDevServers } from "./helpers/dev-servers";

const PSK = Buffer.from("5a4b3c2d1e0f11223344556677889900", "hex");
const TLS12_CID = 25; // RFC 9146 3
const fx = useSecureDevServers("lwm2m-fw-cid-");

function config(port: number, endpoint: string, extra: Record<string, unknown> = {}): FactoryConfig {
  return {
    endpoint,
    servers: [{
      uri: `coaps://127.0.0.1:${port}`, shortServerId: 1, lifetime: 3, securityMode: "psk", pskIdentity: endpoint,
      pskKey: PSK.toString("hex"), communicationRetryCount: 1, communicationSequenceRetryCount: 1, ...extra,
    }],
  };
}


async function run(endpoint: string, connectionId: number | undefined, extra = {}, body: (dev: Device, nat: Nat) => Promise<void>) {
  fx.srv.clients.server.psk.set(endpoint, PSK);
  const nat = new Nat(Number(new URL(fx.srv.secureServerUri!).port));
  await nat.start();
  const dev = new Device({ connectionId });
  try {
    dev.start();
    const reg = waitEvent(dev, "registered");
    dev.provision(config(nat.port, endpoint, extra));
    await reg;
    await body(dev, nat);
  } catch (e) {
    (e as Error).message += `\n--- device log:\n${logText(dev)}`;
    throw e;
  } finally {
    dev.stop();
    nat.close();
  }
}

test("device connectionId 4: the firmware negotiates a CID with the development server; a NAT rebinding keeps the session (no handshake) and the Update is acknowledged; tshark decrypts the tls12_cid records from both ports", async (t) => {
  const transport = fx.srv.serverTransports.secure!;
  await run("fw-cid-ep", 4, {}, async (dev, nat) => {
    // the device asked for a 4-byte CID and uses the server's 8-byte one
    assert.match(logText(dev), /DTLS: established ssid=1, suite 0xc0a8, connection ID 4\/8/);
    const handshakes = transport.stats.handshakes, rebinds = transport.stats.cidRebinds;
    const firstPort = nat.outerPort;
    const regKey = fx.srv.server.getRegistration("fw-cid-ep")!.peerKey;
    let serverUpdates = 0;
    const onUpd = (r: { endpoint: string }) => { if (r.endpoint === "fw-cid-ep") serverUpdates++; };
    fx.srv.server.on("updated", onUpd);
    try {
      const newPort = await nat.rebind();
      assert.notEqual(newPort, firstPort);
      await waitEvent(dev, "updated"); // lifetime 3 s: the Update at 2.7 s, from the new port, acknowledged
    } finally {
      fx.srv.server.off("updated", onUpd);
    }
    assert.equal(serverUpdates, 1);
    assert.equal(transport.stats.handshakes, handshakes, "no handshake after the rebinding");
    assert.equal(transport.stats.cidRebinds, rebinds + 1, "the server found the session by its CID");
    assert.notEqual(fx.srv.server.getRegistration("fw-cid-ep")!.peerKey, regKey, "the registration follows the new address");
    assert.doesNotMatch(logText(dev), /DTLS: established.*\n(.|\n)*DTLS: established/, "one handshake on the device too");
    // every protected record after the handshake is a tls12_cid record, both directions
    const after = nat.log.filter((e) => e.outerPort === nat.outerPort);
    assert.ok(after.some((e) => e.up) && after.some((e) => !e.up), "traffic both ways after the rebinding");
    assert.ok(after.every((e) => e.d[0] === TLS12_CID), "records after the rebinding carry the CID");

    if (!requirePeer(t, "tshark")) return;
    const line = fx.keyLog.find((l) => nat.log.some((e) => e.up && e.d[0] === 22 && e.d.includes(Buffer.from(l.split(" ")[1], "hex"))));
    assert.ok(line, "the server's key log line of this session");
    const cap = join(fx.dir, "fw-cid.pcap"), kl = join(fx.dir, "fw-cid-keylog.txt");
    writeFileSync(cap, natPcap(nat.log));
    writeFileSync(kl, line + "\n");
    const rows = execFileSync("tshark", ["-r", cap, "-o", `tls.keylog_file:${kl}`, "-d", "udp.port==5684,dtls",
      "-T", "fields", "-E", "separator=|", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "dtls.record.content_type",
      "-e", "dtls.record.connection_id", "-e", "dtls.handshake.extension.type"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      .trim().split("\n").map((l) => l.split("|"));
    const all = rows.map((r) => r.join("|")).join("\n");
    // extension 54 in the ClientHello (and the ServerHello)
    assert.ok(rows.filter((r) => r[4].split(",").includes("54")).length >= 2, all);
    // after the rebinding: from the new port, application data (23) decrypted inside records with the server's CID, and back with ours
    const up = rows.filter((r) => r[0] === String(nat.outerPort));
    const down = rows.filter((r) => r[1] === String(nat.outerPort));
    assert.ok(up.length > 0 && down.length > 0, all);
    assert.ok(up.every((r) => r[2] === "23" && r[3].replace(/:/g, "").length === 16), all);
    assert.ok(down.every((r) => r[2] === "23" && r[3].replace(/:/g, "").length === 8), all);
    // the same server CID before and after the rebinding (one connection)
    const before = rows.filter((r) => r[0] === String(firstPort) && r[3] !== "");
    assert.ok(before.length > 0 && before.every((r) => r[3] === up[0][3]), all);
  });
});

test("CID is off by default: no connection_id extension, no tls12_cid record", async () => {
  await run("fw-nocid-ep", undefined, {}, async (dev, nat) => {
    assert.match(logText(dev), /DTLS: established ssid=1, suite 0xc0a8$/m);
    assert.doesNotMatch(logText(dev), /connection ID/);
    assert.ok(nat.log.every((e) => e.d[0] !== TLS12_CID));
  });
});

test("CID with an account that allows no CCM_8 suite (resource 16: PSK-AES128-CBC-SHA256 only): not offered, a warning, the CBC handshake works", async () => {
  await run("fw-cid-cbc-ep", 2, { ciphersuites: [0x00ae] }, async (dev, nat) => {
    assert.match(logText(dev), /no CCM_8 suite allowed for this account, connection ID not offered/);
    assert.match(logText(dev), /DTLS: established ssid=1, suite 0x00ae$/m);
    assert.ok(nat.log.every((e) => e.d[0] !== TLS12_CID));
  });
});

test("CID with the CCM_8 and CBC suites allowed: only the CCM_8 suite is offered, the CID is negotiated", async () => {
  await run("fw-cid-mixed-ep", 0, { ciphersuites: [0x00ae, 0xc0a8] }, async (dev) => {
    assert.match(logText(dev), /DTLS: established ssid=1, suite 0xc0a8, connection ID 0\/8/);
  });
});

test("set_connection_id refuses a length outside -1..32 (unchanged), and so does the Device option", () => {
  const dev = new Device();
  try {
    const set = dev.exports.set_connection_id!;
    assert.equal(set(33), -1);
    assert.equal(set(-2), -1);
    assert.equal(set(255), -1);
    assert.equal(set(32), 0);
    assert.equal(set(-1), 0);
    assert.equal(set(0), 0);
  } finally {
    dev.stop();
  }
  assert.throws(() => new Device({ connectionId: 33 }), /connectionId/);
});
