// Block-wise transfers (RFC 7959) between two instances of the module (our
// client endpoint + block client, our server endpoint + the demo server), and
// against a scripted peer for the protocol corner cases: size negotiation in
// both directions, 2.31 Continue with a smaller SZX, 4.13 + Size1, 4.08 on a
// gap, ETag consistency, Block2 past the end, Block1 followed by Block2.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CoapModule, T, C, O, Ev, Err, encode, decode, ascii, text, uriPath, uintBytes, optUint, opt, block,
  largeRepresentation, prng, Msg,
} from "./helpers/coap-harness";

function pair(serverSzx = 6, uploadCap = 16384) {
  const a = new CoapModule(21), b = new CoapModule(22);
  assert.equal(a.epInit(), 0);
  assert.equal(b.epInit(), 0);
  b.ex.demoInit(uploadCap, serverSzx);
  return { a, b };
}

/** Moves datagrams both ways until the transfer ends; returns status and every request/response seen. */
function run(a: CoapModule, b: CoapModule, start: () => number) {
  const reqs: Msg[] = [], resps: Msg[] = [];
  let status = start();
  for (let guard = 0; guard < 1000 && status === 1; guard++) {
    for (const d of a.drainTx()) { reqs.push(decode(d)); b.feed(d, 0); }
    for (const e of b.drainEvents()) if (e.kind === Ev.Request) assert.ok(b.ex.demoServe(0n) >= 0);
    for (const d of b.drainTx()) { resps.push(decode(d)); a.feed(d, 0); }
    for (const e of a.drainEvents()) {
      assert.equal(e.kind, Ev.Response);
      status = a.ex.bcOnResponse(0n);
    }
  }
  a.ex.selectRx();
  return { status, reqs, resps };
}

test("Block2 download of /large (3000 bytes): server-chosen 1024-byte blocks, early negotiation of 64, and a server that only does 256", () => {
  const expected = largeRepresentation();
  let { a, b } = pair();
  let r = run(a, b, () => a.blockStart(T.CON, C.GET, uriPath("large"), null, 0x10000, 6, -1, 0));
  assert.equal(r.status, 0);
  assert.deepEqual(a.downloaded(), expected);
  assert.deepEqual(r.resps.map((m) => optUint(m, O.BLOCK2)), [(0 << 4) | 8 | 6, (1 << 4) | 8 | 6, (2 << 4) | 6]);
  assert.equal(optUint(r.resps[0], O.SIZE2), 3000);
  assert.equal(optUint(r.resps[1], O.SIZE2), -1, "Size2 on the first block only");
  assert.equal(optUint(r.reqs[0], O.BLOCK2), -1, "no Block2 in the first request without early negotiation");
  assert.deepEqual(r.reqs.slice(1).map((m) => optUint(m, O.BLOCK2)), [(1 << 4) | 6, (2 << 4) | 6]);
  assert.ok(r.reqs.every((m) => text(opt(m, O.URI_PATH)[0]) === "large"), "every block request repeats the request options");
  assert.equal(new Set(r.resps.map((m) => Buffer.from(opt(m, O.ETAG)[0]).toString("hex"))).size, 1);

  r = run(a, b, () => a.blockStart(T.CON, C.GET, uriPath("large"), null, 0x10000, 6, 2, 0));
  assert.equal(r.status, 0);
  assert.deepEqual(a.downloaded(), expected);
  assert.equal(r.reqs.length, Math.ceil(3000 / 64));
  assert.equal(optUint(r.reqs[0], O.BLOCK2), 2, "Block2 0/0/64 in the first request (§2.4)");

  ({ a, b } = pair(4));
  r = run(a, b, () => a.blockStart(T.NON, C.GET, uriPath("large"), null, 0x10000, 6, 6, 0));
  assert.equal(r.status, 0);
  assert.deepEqual(a.downloaded(), expected);
  assert.equal(r.reqs.length, Math.ceil(3000 / 256), "the client follows the server's smaller size");
  assert.ok(r.reqs.every((m) => m.type === T.NON));
  assert.ok(r.resps.slice(0, -1).every((m) => (optUint(m, O.BLOCK2) & 7) === 4));
});

test("Block1 upload of 5000 bytes: Size1 first, 2.31 Continue; a server preferring 256 answers the first 1024-byte block with 0/1/256 and the client continues at byte 1024 (block 4/256, RFC 7959 §2.5 Figure 5)", () => {
  const body = prng(3).bytes(5000);
  let { a, b } = pair();
  let r = run(a, b, () => a.blockStart(T.CON, C.PUT, uriPath("upload"), body, 0, 6, -1, 0));
  assert.equal(r.status, 0);
  assert.equal(a.ex.msgCode(), C.CHANGED);
  assert.equal(b.ex.demoUploadLen(), 5000);
  assert.deepEqual(b.read(b.ex.demoUpload(), 5000), body);
  assert.equal(optUint(r.reqs[0], O.SIZE1), 5000);
  assert.deepEqual(r.reqs.map((m) => optUint(m, O.BLOCK1)), [8 | 6, (1 << 4) | 8 | 6, (2 << 4) | 8 | 6, (3 << 4) | 8 | 6, (4 << 4) | 6]);
  assert.deepEqual(r.resps.map((m) => m.code), [C.CONTINUE, C.CONTINUE, C.CONTINUE, C.CONTINUE, C.CHANGED]);
  assert.deepEqual(r.resps.map((m) => optUint(m, O.BLOCK1)), r.reqs.map((m) => optUint(m, O.BLOCK1)), "Block1 echoed");

  ({ a, b } = pair(4));
  r = run(a, b, () => a.blockStart(T.CON, C.PUT, uriPath("upload"), body, 0, 6, -1, 0));
  assert.equal(r.status, 0);
  assert.deepEqual(b.read(b.ex.demoUpload(), b.ex.demoUploadLen()), body);
  assert.equal(optUint(r.resps[0], O.BLOCK1), 8 | 4, "2.31 with Block1 0/1/256: 256-byte blocks from now on");
  // RFC 7959 §2.5 / Figure 5: the first block counts whole; the next starts at byte 1024 = block 4 of 256
  assert.equal(optUint(r.reqs[1], O.BLOCK1), (4 << 4) | 8 | 4);
  assert.equal(r.reqs.length, 1 + Math.ceil((5000 - 1024) / 256));
});

test("Block1: 4.13 Request Entity Too Large with Size1 (announced Size1 and overflow), 4.08 on a gap or without a transfer, 4.00 on a short non-final block or SZX 7", () => {
  const { a, b } = pair(6, 1000);
  const r = run(a, b, () => a.blockStart(T.CON, C.PUT, uriPath("upload"), prng(1).bytes(5000), 0, 4, -1, 0));
  assert.equal(r.status, 0, "the final response is delivered to the caller");
  assert.equal(a.ex.msgCode(), C.TOO_LARGE);
  assert.equal(a.ex.msgSize1(), 1000n);
  assert.equal(r.reqs.length, 1, "refused at the first block from Size1");

  const put = (mid: number, v: number, payload: Uint8Array, extra: [number, Uint8Array][] = []) => {
    b.feed(encode({ type: T.CON, code: C.PUT, mid, token: ascii("b"), options: [...uriPath("upload"), [O.BLOCK1, uintBytes(v)], ...extra], payload }), 0);
    for (const e of b.drainEvents()) if (e.kind === Ev.Request) b.ex.demoServe(0n);
    return decode(b.drainTx()[0]);
  };
  // no Size1, but the blocks run past the buffer
  let resp = put(1, 8 | 6, new Uint8Array(1024));
  assert.equal(resp.code, C.TOO_LARGE);
  assert.equal(optUint(resp, O.SIZE1), 1000);
  // gap: block 2 after block 0
  resp = put(2, 8 | 2, new Uint8Array(64));
  assert.equal(resp.code, C.CONTINUE);
  resp = put(3, (2 << 4) | 8 | 2, new Uint8Array(64));
  assert.equal(resp.code, C.INCOMPLETE);
  resp = put(4, (1 << 4) | 8 | 2, new Uint8Array(64));
  assert.equal(resp.code, C.INCOMPLETE, "after an error there is no transfer to continue");
  resp = put(5, 8 | 2, new Uint8Array(63));
  assert.equal(resp.code, C.BAD_REQUEST, "a non-final block must be full size");
  resp = put(6, 8 | 7, new Uint8Array(64));
  assert.equal(resp.code, C.BAD_REQUEST, "SZX 7 is reserved");
  resp = put(7, 2, ascii("last"));
  assert.equal(resp.code, C.CHANGED);
  assert.equal(b.ex.demoUploadLen(), 4);
});

test("Block2 server side: NUM past the end and SZX 7 get 4.00; a small representation gets Block2 only when asked", () => {
  const { b } = pair();
  const getB2 = (mid: number, path: string, v: number | null) => {
    const options = uriPath(path);
    if (v !== null) options.push([O.BLOCK2, uintBytes(v)]);
    b.feed(encode({ type: T.CON, code: C.GET, mid, options }), 0);
    for (const e of b.drainEvents()) if (e.kind === Ev.Request) b.ex.demoServe(0n);
    return decode(b.drainTx()[0]);
  };
  assert.equal(getB2(1, "large", (3 << 4) | 6).code, C.BAD_REQUEST, "3 * 1024 >= 3000");
  assert.equal(getB2(2, "large", 7).code, C.BAD_REQUEST);
  const last = getB2(3, "large", (2 << 4) | 6);
  assert.equal(optUint(last, O.BLOCK2), (2 << 4) | 6);
  assert.equal(last.payload.length, 3000 - 2048);
  // a client asking for 512 while the server allows 1024 gets 512
  assert.equal(optUint(getB2(4, "large", (1 << 4) | 5), O.BLOCK2), (1 << 4) | 8 | 5);
  b.feed(encode({ type: T.CON, code: C.PUT, mid: 9, options: uriPath("upload"), payload: ascii("small") }), 0);
  b.drainEvents();
  b.ex.demoServe(0n);
  b.drainTx();
  const small = getB2(5, "upload", null);
  assert.equal(opt(small, O.BLOCK2).length, 0);
  assert.deepEqual(small.payload, ascii("small"));
  const asked = getB2(6, "upload", 6);
  assert.equal(optUint(asked, O.BLOCK2), 6, "0/0/1024: the whole representation in one block");
  assert.deepEqual(asked.payload, small.payload);
});

/** A client transfer against a scripted server: `answer(req, i)` returns the response message. */
function scripted(start: (a: CoapModule) => number, answer: (req: Msg, i: number) => Partial<Msg> | null) {
  const a = new CoapModule(31);
  assert.equal(a.epInit(), 0);
  const reqs: Msg[] = [];
  let status = start(a);
  for (let i = 0; status === 1 && i < 100; i++) {
    const req = decode(a.drainTx()[0]);
    reqs.push(req);
    const resp = answer(req, i);
    if (!resp) break;
    a.feed(encode({ type: T.ACK, mid: req.mid, token: req.token, code: C.CONTENT, ...resp }), 0);
    const ev = a.drainEvents();
    assert.equal(ev[0]?.kind, Ev.Response);
    status = a.ex.bcOnResponse(0n);
  }
  a.ex.selectRx();
  return { a, status, reqs };
}

test("Block2 client: an ETag change between blocks is refused; wrong offsets and short middle blocks are BadBlock; Size2 above the buffer is TooLarge", () => {
  const data = prng(8).bytes(200);
  const blk = (num: number, more: boolean, etag: string | null, payload = data.slice(num * 64, num * 64 + 64)): Partial<Msg> => ({
    options: [...(etag ? [[O.ETAG, ascii(etag)] as [number, Uint8Array]] : []), [O.BLOCK2, block(num, more, 2)]], payload,
  });
  const get = (a: CoapModule) => a.blockStart(T.CON, C.GET, uriPath("r"), null, 4096, 6, -1, 0);
  let r = scripted(get, (_q, i) => blk(i, i < 3, "v1", i < 3 ? undefined : data.slice(192)));
  assert.equal(r.status, 0);
  assert.deepEqual(r.a.downloaded(), data);
  r = scripted(get, (_q, i) => blk(i, i < 3, i === 2 ? "v2" : "v1"));
  assert.equal(r.status, Err.ETagMismatch);
  r = scripted(get, (_q, i) => blk(i, i < 3, i === 0 ? null : "v1"));
  assert.equal(r.status, Err.ETagMismatch, "an ETag appearing later is a change too");
  r = scripted(get, (_q, i) => blk(i === 1 ? 2 : i, true, null));
  assert.equal(r.status, Err.BadBlock, "block 2 where block 1 was due");
  r = scripted(get, (_q, i) => blk(i, true, null, data.slice(0, 10)));
  assert.equal(r.status, Err.BadBlock, "a non-final block shorter than its size");
  r = scripted((a) => a.blockStart(T.CON, C.GET, uriPath("r"), null, 100, 6, -1, 0), () => ({ options: [[O.BLOCK2, block(0, true, 2)], [O.SIZE2, uintBytes(200)]], payload: data.slice(0, 64) }));
  assert.equal(r.status, Err.TooLarge);
});

test("Block1 client: a 4.13 carrying a smaller Block1 SZX restarts the upload at that size (§2.9.3); then a final response with Block2 continues as a download (§3.3)", () => {
  const body = prng(4).bytes(300);
  const r = scripted((a) => a.blockStart(T.CON, C.POST, uriPath("p"), body, 0x1000, 6, -1, 0), (q, i) => {
    if (i === 0) { assert.equal(optUint(q, O.BLOCK1), -1, "300 bytes fit one 1024-byte request"); return { code: C.TOO_LARGE, options: [[O.BLOCK1, block(0, false, 2)]] }; }
    const b1 = optUint(q, O.BLOCK1);
    if (b1 >= 0) {
      assert.equal(b1 & 7, 2);
      assert.deepEqual(q.payload, body.slice((b1 >> 4) * 64, (b1 >> 4) * 64 + 64));
      if (b1 & 8) return { code: C.CONTINUE, options: [[O.BLOCK1, uintBytes(b1)]] };
      return { code: C.CHANGED, options: [[O.BLOCK1, uintBytes(b1)], [O.BLOCK2, block(0, true, 2)]], payload: new Uint8Array(64).fill(1) };
    }
    const b2 = optUint(q, O.BLOCK2);
    assert.equal(q.payload.length, 0, "Block2 follow-ups carry no payload");
    assert.equal(b2, (1 << 4) | 2);
    return { code: C.CHANGED, options: [[O.BLOCK2, block(1, false, 2)]], payload: new Uint8Array(10).fill(2) };
  });
  assert.equal(r.status, 0);
  assert.equal(r.reqs.length, 1 + 5 + 1);
  assert.deepEqual(r.a.downloaded(), Uint8Array.from([...new Uint8Array(64).fill(1), ...new Uint8Array(10).fill(2)]));
  assert.equal(optUint(r.reqs[1], O.SIZE1), 300);

  // 2.31 that asks for a block size larger than ours, or points backwards, is a protocol error
  const bad = scripted((a) => a.blockStart(T.CON, C.PUT, uriPath("p"), body, 0, 2, -1, 0), () => ({ code: C.CONTINUE, options: [[O.BLOCK1, block(0, true, 3)]] }));
  assert.equal(bad.status, Err.BadBlock);
});
