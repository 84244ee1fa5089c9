// Interop: libcoap's CoRE Resource Directory (coap-rd-notls 4.3.1, an
// independent implementation) accepts the firmware's LwM2M Register over
// plain CoAP (NoSec, real UDP on loopback, real clock): 2.01 with a
// Location-Path, and the RD then serves our registration and its link-format
// payload. (The DTLS-PSK variant with coap-rd-gnutls comes with DTLS.)
// Observed and left alone: this RD answers an Update (POST /rd/x) with 4.05
// — the client then registers again — and aborts on a DELETE of a
// registration, so De-register is not exercised against it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { requirePeer } from "./helpers/peers";
import { freeUdpPort } from "./helpers/libcoap-peer";
import { Device, type ClientEvent } from "../host-shim/node/device";

const RD = "coap-rd-notls";

/** coap-client-notls to completion; stdout read until the pipe closes ("exit" can come before the last data). */
function coapGet(uri: string): Promise<string> {
  return new Promise((res) => {
    const p = spawn("coap-client-notls", ["-m", "get", "-B", "5", uri]);
    let out = "";
    p.stdout.on("data", (d) => { out += d; });
    p.on("close", () => res(out));
  });
}

test("coap-rd (libcoap) accepts our Register over plain CoAP and lists the registration", async (t) => {
  if (!requirePeer(t, RD) || !requirePeer(t, "coap-client-notls")) return;
  const port = await freeUdpPort();
  const rd = spawn(RD, ["-A", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const exited = new Promise<void>((res) => rd.on("exit", () => res()));
  const dev = new Device();
  try {
    await new Promise((r) => setTimeout(r, 200)); // the RD binds its socket
    assert.equal(dev.start(), 7);
    const registered = new Promise<ClientEvent>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`no registration: ${dev.logs.map((l) => l.text).join("\n")}`)), 8000);
      dev.once("registered", (e: ClientEvent) => { clearTimeout(timer); res(e); });
    });
    dev.provision({ endpoint: "lwm2m-wasm-rd", servers: [{ uri: `coap://127.0.0.1:${port}`, shortServerId: 1, lifetime: 300 }] });
    const ev = await registered;
    assert.match(ev.text, /^\/rd\/[0-9a-zA-Z-]+$/, "Location-Path from the RD");
    const wk = await coapGet(`coap://127.0.0.1:${port}/.well-known/core`);
    assert.ok(wk.includes(`<${ev.text}>`), `the RD lists our registration: ${wk}`);
    const reg = await coapGet(`coap://127.0.0.1:${port}${ev.text}`);
    assert.equal(reg.trim(), "</1>;ver=1.1,</1/0>,</3/0>,</16>", "the RD keeps our link-format payload");
  } finally {
    dev.stop();
    rd.kill("SIGTERM");
    await exited;
  }
});
