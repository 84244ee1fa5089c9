// Interop with libcoap 4.3.1 over plain UDP on 127.0.0.1, both directions:
// our client endpoint (+ block-wise client) against coap-server, and
// coap-client against our server side (the demo server in
// assembly/tests/coap.ts), with a Node harness owning the UDP socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import {
  CoapModule, T, C, O, Ev, ascii, text, uriPath, decode, optUint, largeRepresentation, prng, readUint, opt,
} from "./helpers/coap-harness";
import { coapBinary, startCoapServer, runCoapClient, EndpointPump, transfer } from "./helpers/libcoap-peer";

const SERVER = coapBinary("server");
/** coap-client ends a block-wise body with a newline of its own. */
const noNl = (s: string) => s.replace(/\n$/, "");
const CLIENT = coapBinary("client");

async function withServer(t: any, extra: string[], body: (pump: EndpointPump, port: number) => Promise<void>) {
  if (!requirePeer(t, SERVER)) return;
  const srv = await startCoapServer(extra);
  const mod = new CoapModule(7);
  assert.equal(mod.epInit(1152, 3, 8), 0);
  const pump = new EndpointPump(mod);
  await pump.listen();
  pump.connect(srv.port);
  try {
    await body(pump, srv.port);
  } finally {
    await pump.close();
    await srv.stop();
  }
}

const get = (pump: EndpointPump, path: string, downCap = 0x8000, szx2 = -1, type: number = T.CON) =>
  transfer(pump, () => pump.mod.blockStart(type, C.GET, uriPath(path), null, downCap, 6, szx2, pump.now()));

test("our client -> coap-server: GET /, GET /time, NON GET, 4.04", async (t) => {
  await withServer(t, [], async (pump) => {
    let r = await get(pump, "/");
    assert.equal(r.status, 0);
    pump.mod.ex.selectRx();
    assert.equal(pump.mod.ex.msgCode(), C.CONTENT);
    assert.match(text(pump.mod.downloaded()), /This is a test server made with libcoap/);

    r = await get(pump, "/time");
    assert.equal(r.status, 0);
    assert.equal(pump.mod.ex.msgCode(), C.CONTENT);
    assert.match(text(pump.mod.downloaded()), /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d/);

    r = await get(pump, "/time", 0x8000, -1, T.NON);
    assert.equal(r.status, 0);
    const last = decode(pump.received[pump.received.length - 1]);
    assert.equal(last.type, T.NON, "a NON request is answered with a NON response");

    r = await get(pump, "/no/such/resource");
    assert.equal(r.status, 0);
    assert.equal(pump.mod.ex.msgCode(), C.NOT_FOUND);
  });
});

test("our client -> coap-server: PUT /example_data then GET it back", async (t) => {
  await withServer(t, [], async (pump) => {
    const body = ascii("hello from lwm2m-wasm " + Date.now());
    let r = await transfer(pump, () => pump.mod.blockStart(T.CON, C.PUT, [...uriPath("example_data"), [O.CONTENT_FORMAT, new Uint8Array(0)]], body, 0, 6, -1, pump.now()));
    assert.equal(r.status, 0);
    assert.ok([C.CREATED, C.CHANGED].includes(pump.mod.ex.msgCode()), `code 0x${pump.mod.ex.msgCode().toString(16)}`);
    r = await get(pump, "example_data");
    assert.equal(r.status, 0);
    assert.deepEqual(pump.mod.downloaded(), body);
  });
});

test("our client -> coap-server: Block1 upload (64-byte blocks) of 4000 bytes, Block2 download back (server size, and 128-byte early negotiation)", async (t) => {
  await withServer(t, ["-d", "10"], async (pump) => {
    const body = ascii(Buffer.from(prng(99).bytes(3000)).toString("base64")); // 4000 bytes
    assert.equal(body.length, 4000);
    let r = await transfer(pump, () => pump.mod.blockStart(T.CON, C.PUT, uriPath("big"), body, 0, 2, -1, pump.now()));
    assert.equal(r.status, 0);
    assert.ok([C.CREATED, C.CHANGED].includes(pump.mod.ex.msgCode()));
    const up = pump.sent.map(decode).filter((m) => m.code === C.PUT);
    assert.equal(up.length, Math.ceil(4000 / 64), "one PUT per 64-byte block");
    assert.equal(optUint(up[0], O.SIZE1), 4000);
    up.forEach((m, i) => assert.equal(optUint(m, O.BLOCK1), (i << 4) | (i < up.length - 1 ? 8 : 0) | 2));

    pump.sent.length = 0;
    r = await get(pump, "big");
    assert.equal(r.status, 0);
    assert.deepEqual(pump.mod.downloaded(), body);
    const gets = pump.sent.map(decode).filter((m) => m.code === C.GET);
    assert.equal(gets.length, 4, "1024-byte blocks as the server chose");

    pump.sent.length = 0;
    r = await get(pump, "big", 0x8000, 3);
    assert.equal(r.status, 0);
    assert.deepEqual(pump.mod.downloaded(), body);
    const g2 = pump.sent.map(decode).filter((m) => m.code === C.GET);
    assert.equal(g2.length, Math.ceil(4000 / 128));
    assert.equal(optUint(g2[0], O.BLOCK2), 3, "early negotiation: Block2 0/0/128 in the first request");

    r = await get(pump, "big", 1000);
    assert.equal(r.status, -22, "a body larger than the buffer is refused (Size2 / TooLarge)");
  });
});

test("our client -> coap-server: GET / in 16-byte Block2 blocks with a consistent ETag", async (t) => {
  await withServer(t, [], async (pump) => {
    const r = await get(pump, "/", 0x8000, 0);
    assert.equal(r.status, 0);
    assert.match(text(pump.mod.downloaded()), /^This is a test server made with libcoap/);
    const resp = pump.received.map(decode).filter((m) => m.code === C.CONTENT);
    assert.ok(resp.length >= 8);
    assert.ok(resp.every((m) => opt(m, O.ETAG).length === 1));
  });
});

test("our client -> coap-server -l 2 (the server drops its response): we retransmit with the same MID and succeed", async (t) => {
  // datagram 1 of the server is the answer to the readiness ping, 2 our request's response
  await withServer(t, ["-l", "2"], async (pump) => {
    const t0 = pump.now();
    const r = await get(pump, "time");
    assert.equal(r.status, 0);
    const sent = pump.sent.map(decode);
    assert.equal(sent.length, 2);
    assert.equal(sent[0].mid, sent[1].mid);
    const waited = pump.now() - t0;
    assert.ok(waited >= 1900 && waited < 4000, `retransmission after ACK_TIMEOUT..*1.5 (waited ${waited} ms)`);
  });
});

// ---- coap-client against our server side ---------------------------------------------

async function withOurServer(t: any, body: (pump: EndpointPump, url: string, mod: CoapModule) => Promise<void>, maxSzx = 6, uploadCap = 16384) {
  if (!requirePeer(t, CLIENT)) return;
  const mod = new CoapModule(11);
  assert.equal(mod.epInit(1152, 3, 8), 0);
  mod.ex.demoInit(uploadCap, maxSzx);
  const pump = new EndpointPump(mod);
  pump.onEvent = (e) => {
    if (e.kind === Ev.Request) assert.ok(mod.ex.demoServe(BigInt(pump.now())) >= 0);
    else mod.ex.demoEvent(e.kind, e.slot, e.mid, BigInt(pump.now()));
  };
  const port = await pump.listen();
  try {
    await body(pump, `coap://127.0.0.1:${port}`, mod);
  } finally {
    await pump.close();
  }
}

test("coap-client -> our server: GET / (piggybacked), 4.04, NON (-N)", async (t) => {
  await withOurServer(t, async (pump, url) => {
    let r = await runCoapClient(["-m", "get", `${url}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "lwm2m-wasm CoAP test server");
    pump.remote = null;
    r = await runCoapClient(["-m", "get", `${url}/missing`]);
    assert.match(r.stdout + r.stderr, /4\.04/);
    pump.remote = null;
    pump.sent.length = 0;
    r = await runCoapClient(["-N", "-m", "get", `${url}/`]);
    assert.equal(r.stdout.trim(), "lwm2m-wasm CoAP test server");
    assert.equal(decode(pump.sent[0]).type, T.NON);
  });
});

test("coap-client -> our server: Block2 GET /large (server block size, and -b 64)", async (t) => {
  await withOurServer(t, async (pump, url) => {
    const expected = Buffer.from(largeRepresentation()).toString("latin1");
    let r = await runCoapClient(["-m", "get", `${url}/large`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(noNl(r.stdout), expected);
    pump.remote = null;
    pump.sent.length = 0;
    r = await runCoapClient(["-b", "64", "-m", "get", `${url}/large`]);
    assert.equal(noNl(r.stdout), expected);
    const blocks = pump.sent.map(decode).filter((m) => m.code === C.CONTENT);
    assert.equal(blocks.length, Math.ceil(3000 / 64));
    blocks.forEach((m, i) => assert.equal(optUint(m, O.BLOCK2), (i << 4) | (i < blocks.length - 1 ? 8 : 0) | 2));
    assert.equal(optUint(blocks[0], O.SIZE2), 3000);
  });
});

test("coap-client -> our server: Block1 PUT -f file (5000 bytes; default and -b 128), then GET it back", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "coap-put-"));
  try {
    await withOurServer(t, async (pump, url, mod) => {
      const body = Buffer.from(prng(5).bytes(3750)).toString("base64"); // 5000 bytes of text
      const file = join(dir, "body.txt");
      writeFileSync(file, body);
      for (const args of [[], ["-b", "128"]]) {
        pump.remote = null;
        pump.sent.length = 0;
        const r = await runCoapClient([...args, "-m", "put", "-f", file, `${url}/upload`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(mod.ex.demoUploadLen(), 5000);
        assert.equal(Buffer.from(mod.read(mod.ex.demoUpload(), 5000)).toString("latin1"), body);
        const cont = pump.sent.map(decode).filter((m) => m.code === C.CONTINUE);
        assert.equal(cont.length, Math.ceil(5000 / (args.length ? 128 : 1024)) - 1, "2.31 Continue for every block but the last");
      }
      pump.remote = null;
      const r = await runCoapClient(["-m", "get", `${url}/upload`]);
      assert.equal(noNl(r.stdout), body);
    });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("coap-client -> our server: a too-large Block1 upload gets 4.13 with Size1", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "coap-put-"));
  try {
    await withOurServer(t, async (pump, url, mod) => {
      const file = join(dir, "big.txt");
      writeFileSync(file, "x".repeat(3000));
      const r = await runCoapClient(["-b", "256", "-m", "put", "-f", file, `${url}/upload`]);
      assert.match(r.stdout + r.stderr, /4\.13/);
      const e = pump.sent.map(decode).find((m) => m.code === C.TOO_LARGE)!;
      assert.ok(e);
      assert.equal(optUint(e, O.SIZE1), 1000);
      assert.equal(mod.ex.demoUploadLen(), 0);
    }, 6, 1000);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("coap-client -s 2 -> our server: Observe registration and notifications with increasing sequence numbers", async (t) => {
  await withOurServer(t, async (pump, url, mod) => {
    const run = runCoapClient(["-s", "2", "-m", "get", `${url}/obs`], 15000);
    // notify every 300 ms while the observer is registered
    let n = 0;
    const iv = setInterval(() => {
      if (!mod.ex.demoObsActive(0)) return;
      mod.ex.demoNotify(BigInt(pump.now()));
      n++;
      pump.pump();
    }, 300);
    const r = await run;
    clearInterval(iv);
    const lines = r.stdout.split(/\n|(?=obs )/).map((s) => s.trim()).filter(Boolean);
    assert.ok(lines.length >= 4, `registration response + notifications, got ${JSON.stringify(r.stdout)}`);
    const notes = pump.sent.map(decode).filter((m) => m.code === C.CONTENT && opt(m, O.OBSERVE).length);
    const seqs = notes.map((m) => optUint(m, O.OBSERVE));
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `sequence increases: ${seqs}`);
    assert.ok(n >= 3);
    for (let k = 1; k <= 3; k++) assert.match(r.stdout, new RegExp(`obs ${k}`));
  });
});

test("coap-client -> our server: separate response (empty ACK, then a CON 2.05 that libcoap acknowledges)", async (t) => {
  await withOurServer(t, async (pump, url, mod) => {
    const acked: number[] = [];
    const base = pump.onEvent;
    pump.onEvent = (e) => {
      base(e);
      if (e.kind === Ev.Request) setTimeout(() => { mod.ex.demoSeparate(BigInt(pump.now())); pump.pump(); }, 150);
      if (e.kind === Ev.Acked) acked.push(e.slot);
    };
    const r = await runCoapClient(["-m", "get", `${url}/sep`]);
    assert.equal(r.stdout.trim(), "separate");
    const sent = pump.sent.map(decode);
    assert.equal(sent[0].type, T.ACK);
    assert.equal(sent[0].code, 0);
    assert.equal(sent[1].type, T.CON);
    assert.equal(sent[1].code, C.CONTENT);
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(acked.length, 1, "libcoap's ACK of our CON response reached the endpoint");
  });
});

test("coap-client -> our server: a critical unknown option (-O 2049) gets 4.02 Bad Option, an elective one (-O 2048) is ignored", async (t) => {
  await withOurServer(t, async (pump, url, mod) => {
    let r = await runCoapClient(["-O", "2049,0x01", "-m", "get", `${url}/`]);
    assert.match(r.stdout + r.stderr, /4\.02/);
    assert.equal(decode(pump.sent[0]).code, C.BAD_OPTION);
    assert.equal(mod.ex.demoServed(), 0, "never reached the resource");
    pump.remote = null;
    r = await runCoapClient(["-O", "2048,0x01", "-m", "get", `${url}/`]);
    assert.equal(r.stdout.trim(), "lwm2m-wasm CoAP test server");
  });
});

test("coap-client -> our server: our piggybacked response is lost; libcoap's retransmission (same MID) gets the cached response, the request is served once", async (t) => {
  await withOurServer(t, async (pump, url, mod) => {
    pump.dropOut = 1;
    const t0 = Date.now();
    const r = await runCoapClient(["-m", "put", "-e", "once", `${url}/upload`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - t0 >= 1900, "libcoap waited ACK_TIMEOUT before retransmitting");
    assert.equal(mod.ex.demoServed(), 1, "the duplicate was not processed again");
    assert.equal(pump.received.length, 2);
    assert.deepEqual(pump.received[0], pump.received[1]);
    assert.equal(pump.sent.length, 2);
    assert.deepEqual(pump.sent[0], pump.sent[1], "the same response bytes again");
    assert.equal(decode(pump.sent[1]).code, C.CHANGED);
  });
});
