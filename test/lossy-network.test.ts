// The lossy UDP proxy (test/helpers/lossy-proxy.ts) and the device through it.
//   the proxy: the same seed drops the same datagrams (by index, each
//   direction on its own), duplicates and holds back as told, and a held
//   datagram is overtaken by later ones;
//   the device: bootstrap + Register over DTLS-PSK (endpoint lwm2m-wasm-demo
//   of server/dev-config.json, the development servers, default timers) with
//   30 % of the datagrams dropped both ways, under a fixed seed: it must
//   register within a bound of attempts (Bootstrap-Requests, DTLS
//   handshakes). Not a timing assertion: the time limit only ends a stuck run;
//   the figures under loss are the bench's (bench/lossy.ts, docs/bench.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LossyProxy, lossyBootstrapRun, type LossyOptions } from "./helpers/lossy-proxy";

/** Sends n numbered datagrams each way through a proxy to an echo-less sink; what arrived, in order. */
async function through(o: LossyOptions, n: number): Promise<{ up: number[]; down: number[]; proxy: LossyProxy }> {
  const server = dgram.createSocket("udp4"), client = dgram.createSocket("udp4");
  await new Promise<void>((r) => server.bind(0, "127.0.0.1", () => r()));
  await new Promise<void>((r) => client.bind(0, "127.0.0.1", () => r()));
  const proxy = await LossyProxy.start(o, { address: "127.0.0.1", port: server.address().port });
  const up: number[] = [], down: number[] = [];
  const peer: { back?: { address: string; port: number } } = {};
  server.on("message", (m, r) => { up.push(m.readUInt16BE(0)); peer.back = r; });
  client.on("message", (m) => down.push(m.readUInt16BE(0)));
  const b = (i: number) => { const x = Buffer.alloc(2); x.writeUInt16BE(i); return x; };
  for (let i = 0; i < n; i++) client.send(b(i), proxy.port, "127.0.0.1");
  await new Promise((r) => setTimeout(r, 300 + (o.reorder?.delayMs ?? 0)));
  const back = peer.back;
  assert.ok(back, "something came through");
  for (let i = 0; i < n; i++) server.send(b(i), back.port, back.address);
  await new Promise((r) => setTimeout(r, 300 + (o.reorder?.delayMs ?? 0)));
  await proxy.close();
  client.close();
  server.close();
  return { up, down, proxy };
}

test("lossy proxy: a seed drops the same datagrams every time, each direction on its own stream", async () => {
  const a = await through({ seed: 42, drop: 0.3 }, 200);
  const b = await through({ seed: 42, drop: 0.3 }, 200);
  const c = await through({ seed: 43, drop: 0.3 }, 200);
  assert.deepEqual(a.up, b.up);
  assert.deepEqual(a.down, b.down);
  assert.notDeepEqual(a.up, c.up, "another seed, other losses");
  assert.notDeepEqual(a.up, a.down, "the directions do not share the stream");
  for (const r of [a.up, a.down]) assert.ok(r.length > 110 && r.length < 170, `${r.length} of 200 through at 30 % drop`);
  assert.equal(a.proxy.stats.up.dropped + a.up.length, 200);
  assert.equal(a.proxy.stats.down.dropped + a.down.length, 200);
});

test("lossy proxy: duplicates and held-back datagrams", async () => {
  const d = await through({ seed: 7, drop: 0, duplicate: 0.5 }, 100);
  assert.equal(d.up.length, 100 + d.proxy.stats.up.duplicated);
  assert.ok(d.proxy.stats.up.duplicated > 20 && d.proxy.stats.up.duplicated < 80);
  const r = await through({ seed: 7, drop: 0, reorder: { probability: 0.2, delayMs: 150 } }, 100);
  assert.equal(r.up.length, 100, "nothing lost");
  assert.ok(r.proxy.stats.up.delayed > 5);
  assert.ok(r.up.some((x, i) => i > 0 && x < r.up[i - 1]), "later datagrams overtook held ones");
});

test("issue 7: bootstrap + Register over DTLS-PSK with 30 % of the datagrams dropped both ways (seed 10) needs at most 1 Bootstrap-Request and 2 handshakes", async () => {
  const pkiDir = mkdtempSync(join(tmpdir(), "lwm2m-lossy-test-"));
  try {
    const run = await lossyBootstrapRun({ seed: 10, drop: 0.3, limitMs: 240_000, pkiDir });
    const lost = run.stats.bootstrap.up.dropped + run.stats.bootstrap.down.dropped + run.stats.server.up.dropped + run.stats.server.down.dropped;
    assert.ok(lost >= 3, `the proxy dropped ${lost} datagrams`);
    assert.ok(run.ms !== null, `registered (log: ${run.log.slice(-8).join(" | ")})`);
    assert.equal(run.bootstrapRequests, 1, "one Bootstrap-Request");
    assert.equal(run.handshakes, 2, "one handshake with each server");
  } finally {
    rmSync(pkiDir, { recursive: true, force: true });
  }
});
