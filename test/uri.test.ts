// The URI splitter (assembly/util/uri.ts) that connOpen (the LwM2M Server URI,
// Security resource 0) and the EST URI (est_configure, RFC 9148 §5) share:
// coap[s]://host[:port][/path] (RFC 7252 §6.1, §6.2). Accepted URIs are
// checked against Node's WHATWG URL parser (host, port, path); refusals are
// each named.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoapModule, INPUT, OUT } from "./helpers/coap-harness";

const m = new CoapModule(7);
function split(uri: string, bare = false) {
  const b = new TextEncoder().encode(uri);
  const p = m.put(b, INPUT);
  const ok = m.ex.uriSplitInto(p, b.length, bare ? 1 : 0, m.s + OUT) === 1;
  const [ho, hl, port, po, pl] = new Int32Array(m.m.mem().buffer, m.s + OUT, 5);
  const dec = (o: number, l: number) => new TextDecoder().decode(b.subarray(o, o + l));
  return { ok, host: dec(ho, hl), port, path: pl > 0 ? dec(po, pl) : "" };
}

test("uriSplit: host, port and path as the WHATWG URL parser reads them; default ports 5683 / 5684 by the scheme", () => {
  for (const uri of [
    "coap://a.example", "coaps://b.example:5684", "coaps://[::1]", "coap://c:5683/x", "coaps://127.0.0.1:20011",
    "coaps://[2001:db8::7]:61616/.well-known/est", "coaps://est.example/est/short", "coap://h:1/", "coaps://h:65535/a/b/c",
  ]) {
    const u = new URL(uri);
    const r = split(uri);
    assert.ok(r.ok, uri);
    assert.equal(r.host, u.hostname, uri);
    assert.equal(r.port, u.port ? Number(u.port) : uri.startsWith("coaps:") ? 5684 : 5683, uri);
    assert.equal(r.path, u.pathname.replace(/^\//, ""), uri);
  }
  // the EST form: an IPv6 literal without its brackets (net_open, the name checked)
  assert.equal(split("coaps://[::1]:5684/est", true).host, "::1");
  assert.equal(split("coaps://[::1]:5684/est", false).host, "[::1]");
});

test("uriSplit refuses: no host, a port outside 1..65535 or without digits, anything but '/' after the port, an open IPv6 bracket", () => {
  for (const uri of [
    "coaps://", "coaps://:5684", "coaps://h:0", "coaps://h:65536", "coaps://h:99999999999", "coaps://h:",
    "coaps://h:abc", "coaps://h:5684x", "coaps://h:5684?q", "coaps://[::1", "coaps://[::1]x", "bad",
  ]) assert.equal(split(uri).ok, false, uri);
});
