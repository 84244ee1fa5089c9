// Queue Mode (LwM2M 1.1 Transport §6.5): the firmware (build/firmware.wasm in
// Device, real UDP on loopback) registers with Server resource 7 = "UQ" and
// says so in the LwM2M 1.1 form (`b=U` plus the `Q` parameter); it reports
// how long it must listen after each message (queue_awake_until: default 93 s,
// settable); the development LwM2M Server (server/lwm2m-server.ts) queues a
// request for the sleeping client and delivers it when it next hears from it
// (the Update), and a request to an awake client goes out at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startDevServers, type DevServers } from "../server/index";
import { Device, type FactoryConfig } from "../host-shim/node/device";

const CONFIG = "server/dev-config.json";

async function withServer(fn: (dev: DevServers) => Promise<void>) {
  const dev = await startDevServers({ bootstrapPort: 0, serverPort: 0, config: CONFIG, log: false, secure: false });
  try { await fn(dev); } finally { await dev.close(); }
}

function config(uri: string, endpoint: string, binding: string, lifetime: number): FactoryConfig {
  return { endpoint, servers: [{ uri, shortServerId: 1, lifetime, binding }] };
}

const until = async (cond: () => boolean, ms: number, what: string) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test("Queue Mode: Register says b=U and Q (LwM2M 1.1 form); the client reports its 93 s listen window, settable", async () => {
  await withServer(async (srv) => {
    const dev = new Device();
    try {
      dev.start();
      const reg = new Promise<{ binding: string; queueMode: boolean }>((res) => srv.server.once("registered", res));
      dev.provision(config(srv.serverUri, "queue-ep", "UQ", 300));
      const r = await reg;
      assert.equal(r.binding, "U", "b= carries the transport only (1.1)");
      assert.equal(r.queueMode, true, "the Q parameter was sent");
      // listen window: 93 s after the last datagram (the Register's ACK)
      const a = dev.queueAwakeUntil;
      const now = performance.now();
      assert.ok(a > now + 90_000 && a <= now + 93_000, `awake until ${a - now} ms from now`);
      dev.setQueueWindow(5000);
      assert.ok(dev.queueAwakeUntil <= performance.now() + 5000);
    } finally { dev.stop(); }
  });
});

test("Queue Mode: without Q in the binding the client is not in Queue Mode (listens always)", async () => {
  await withServer(async (srv) => {
    const dev = new Device();
    try {
      dev.start();
      const reg = new Promise<{ binding: string; queueMode: boolean }>((res) => srv.server.once("registered", res));
      dev.provision(config(srv.serverUri, "noqueue-ep", "U", 300));
      const r = await reg;
      assert.equal(r.queueMode, false);
      assert.equal(dev.queueAwakeUntil, -1);
    } finally { dev.stop(); }
  });
});

test("Queue Mode: the server queues a Read for the sleeping client and delivers it after the client's next Update", async () => {
  await withServer(async (srv) => {
    srv.server.queueWindowMs = 300;
    const dev = new Device();
    try {
      dev.start();
      const reg = new Promise<void>((res) => srv.server.once("registered", () => res()));
      // lifetime 3 s: the client's Update comes at 90 % of it
      dev.provision(config(srv.serverUri, "sleepy-ep", "UQ", 3));
      await reg;
      // awake right after the Register: a Read goes out at once
      const first = await srv.server.read("sleepy-ep", "/3/0/0");
      assert.equal(first.code, "2.05");
      await new Promise((r) => setTimeout(r, 400)); // the listen window passes: the client sleeps
      assert.equal(srv.server.isAsleep("sleepy-ep"), true);
      const queued = new Promise<{ operation: string }>((res) => srv.server.once("queued", res));
      let answeredAt = 0;
      const updated = new Promise<number>((res) => srv.server.once("updated", () => res(Date.now())));
      const read = srv.server.read("sleepy-ep", "/3/0/0").then((r) => { answeredAt = Date.now(); return r; });
      assert.match((await queued).operation, /Read \/3\/0\/0/);
      assert.equal(srv.server.queuedRequests("sleepy-ep"), 1);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(answeredAt, 0, "nothing is sent to a sleeping client");
      const r = await read;
      const updateAt = await updated;
      assert.equal(r.code, "2.05");
      assert.equal(r.content?.[0]?.value, "lwm2m-wasm");
      assert.ok(answeredAt >= updateAt, "delivered after the Update woke the queue");
      assert.equal(srv.server.queuedRequests("sleepy-ep"), 0);
    } finally { dev.stop(); }
  });
});

test("Queue Mode: a request queued for a client that then de-registers fails (not registered), it does not hang", async () => {
  await withServer(async (srv) => {
    srv.server.queueWindowMs = 100;
    const dev = new Device();
    try {
      dev.start();
      const reg = new Promise<void>((res) => srv.server.once("registered", () => res()));
      dev.provision(config(srv.serverUri, "gone-ep", "UQ", 300));
      await reg;
      await new Promise((r) => setTimeout(r, 200));
      const read = srv.server.read("gone-ep", "/3/0/0").then(() => null, (e: Error) => e);
      await until(() => srv.server.queuedRequests("gone-ep") === 1, 2000, "queued");
      await dev.shutdown(3000); // De-register
      const err = await read;
      assert.ok(err, "the queued Read failed");
      assert.match(err.message, /is not registered/);
    } finally { dev.stop(); }
  });
});
