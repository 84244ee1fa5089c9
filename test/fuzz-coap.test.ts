// Fuzzing the CoAP layer: random and mutated datagrams into the codec (with
// a differential check against an independent reference parser) and into
// two endpoints — a server running the demo resources (block-wise, observe,
// separate responses) and a client with block-wise transfers in flight —
// with the fake clock moving. Any trap/abort is a failure; the seed and the
// failing input are printed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hex } from "./helpers/wasm";
import { CoapModule, T, C, O, Ev, encode, ascii, uriPath, uintBytes, block, prng } from "./helpers/coap-harness";

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 10000);
const SEED = Number(process.env.FUZZ_SEED ?? 0xc0a7f022);

/** Reference validity (RFC 7252 §3): null = well-formed, else a reason; options when well-formed. */
function refParse(b: Uint8Array): { err: string | null; options?: [number, string][]; payload?: string } {
  if (b.length < 4) return { err: "short" };
  if (b[0] >> 6 !== 1) return { err: "version" };
  const tkl = b[0] & 15;
  if (tkl > 8) return { err: "tkl" };
  const code = b[1];
  if (code === 0 && b.length !== 4) return { err: "empty" };
  if ([1, 6, 7].includes(code >> 5)) return { err: "class" };
  if (4 + tkl > b.length) return { err: "short token" };
  let p = 4 + tkl, num = 0;
  const options: [number, string][] = [];
  const ext = (n: number): number | null => {
    if (n < 13) return n;
    if (n === 13) { if (p >= b.length) return null; return 13 + b[p++]; }
    if (n === 14) { if (p + 1 >= b.length) return null; const v = 269 + ((b[p] << 8) | b[p + 1]); p += 2; return v; }
    return null;
  };
  while (p < b.length) {
    if (b[p] === 0xff) {
      if (p + 1 === b.length) return { err: "empty payload" };
      return { err: null, options, payload: hex(b.subarray(p + 1)) };
    }
    const h = b[p++];
    if (h >> 4 === 15 || (h & 15) === 15) return { err: "nibble 15" };
    const d = ext(h >> 4);
    if (d === null) return { err: "trunc" };
    const len = ext(h & 15);
    if (len === null || p + len > b.length) return { err: "trunc" };
    num += d;
    if (num > 65535) return { err: "number" };
    options.push([num, hex(b.subarray(p, p + len))]);
    p += len;
  }
  return { err: null, options, payload: "" };
}

function corpus(r: ReturnType<typeof prng>): Uint8Array[] {
  const tok = ascii("tk");
  return [
    encode({ type: T.CON, code: C.GET, mid: 1, token: tok, options: uriPath("large") }),
    encode({ type: T.CON, code: C.GET, mid: 2, token: tok, options: [...uriPath("large"), [O.BLOCK2, block(1, false, 2)]] }),
    encode({ type: T.CON, code: C.PUT, mid: 3, token: tok, options: [...uriPath("upload"), [O.BLOCK1, block(0, true, 2)], [O.SIZE1, uintBytes(300)]], payload: r.bytes(64) }),
    encode({ type: T.CON, code: C.PUT, mid: 4, token: tok, options: [...uriPath("upload"), [O.BLOCK1, block(1, false, 2)]], payload: r.bytes(20) }),
    encode({ type: T.CON, code: C.GET, mid: 5, token: tok, options: [[O.OBSERVE, uintBytes(0)], ...uriPath("obs")] }),
    encode({ type: T.CON, code: C.GET, mid: 6, token: tok, options: [[O.OBSERVE, uintBytes(1)], ...uriPath("obs")] }),
    encode({ type: T.NON, code: C.GET, mid: 7, token: tok, options: uriPath("sep") }),
    encode({ type: T.ACK, code: C.CONTENT, mid: 8, token: tok, options: [[O.ETAG, ascii("e")], [O.BLOCK2, block(0, true, 2)], [O.SIZE2, uintBytes(200)]], payload: r.bytes(64) }),
    encode({ type: T.CON, code: C.CONTINUE, mid: 9, token: tok, options: [[O.BLOCK1, block(0, true, 1)]] }),
    encode({ type: T.RST, code: 0, mid: 10 }),
    encode({ type: T.CON, code: C.GET, mid: 11, options: [[3, ascii("h")], [7, uintBytes(5683)], [11, ascii("a")], [15, ascii("q")], [17, uintBytes(40)], [2049, ascii("x")]] }),
  ];
}

function mutate(r: ReturnType<typeof prng>, seed: Uint8Array): Uint8Array {
  let b = Uint8Array.from(seed);
  const n = 1 + r.int(4);
  for (let k = 0; k < n; k++) {
    const op = r.int(7);
    if (op === 0 && b.length) b[r.int(b.length)] ^= 1 << r.int(8);
    else if (op === 1 && b.length) b[r.int(b.length)] = [0x0d, 0x0e, 0x0f, 0xd0, 0xe0, 0xf0, 0xff, 0xdd, 0xee, 0x00][r.int(10)];
    else if (op === 2) b = b.slice(0, r.int(b.length + 1));
    else if (op === 3) { const at = r.int(b.length + 1); b = Uint8Array.from([...b.slice(0, at), ...r.bytes(1 + r.int(4)), ...b.slice(at)]); }
    else if (op === 4 && b.length > 1) { const at = r.int(b.length); b = Uint8Array.from([...b.slice(0, at), ...b.slice(at + 1)]); }
    else if (op === 5 && b.length) b[0] = (b[0] & 0xc0) | r.int(64);
    else if (op === 6 && b.length > 1) b[1] = [0, 1, 2, 3, 4, 0x20, 0x45, 0x5f, 0x84, 0xc0, 0xff][r.int(11)];
  }
  return b;
}

test(`fuzz: ${ITERATIONS} random/mutated datagrams into the codec (differential) and two endpoints; zero traps (seed ${SEED})`, () => {
  const r = prng(SEED);
  const codec = new CoapModule(SEED);
  const server = new CoapModule(SEED + 1);
  const client = new CoapModule(SEED + 2);
  assert.equal(server.epInit(1152, 3, 8), 0);
  assert.equal(client.epInit(1152, 2, 4), 0);
  server.ex.demoInit(600, 2);
  const seeds = corpus(r);
  let now = 0, served = 0, parsedOk = 0, clientEvents = 0;
  const startTransfer = () => {
    const k = r.int(3);
    if (k === 0) client.blockStart(T.CON, C.GET, uriPath("large"), null, 4096, 6, r.int(8) - 1, now);
    else if (k === 1) client.blockStart(T.CON, C.PUT, uriPath("up"), r.bytes(r.int(300)), 0, r.int(7), -1, now);
    else client.blockStart(T.NON, C.POST, uriPath("p"), r.bytes(100), 2048, 1, 2, now);
  };
  for (let i = 0; i < ITERATIONS; i++) {
    let input: Uint8Array;
    const kind = r.int(10);
    if (kind === 0) input = r.bytes(r.int(64));
    else if (kind < 8) input = mutate(r, seeds[r.int(seeds.length)]);
    else {
      // make it answer the client's outstanding request (same MID/token) so mutated responses get deep
      const sent = client.ex.epSlotBusy(0) ? client.slotToken(0) : ascii("tk");
      const base = seeds[7 + r.int(2)];
      const b = encode({ type: r.int(2) ? T.ACK : T.CON, code: [C.CONTENT, C.CONTINUE, C.CHANGED, C.TOO_LARGE][r.int(4)], mid: r.int(65536), token: sent, options: [[O.BLOCK2, block(r.int(3), r.int(2) === 1, r.int(8))], [O.BLOCK1, block(r.int(3), r.int(2) === 1, r.int(8))]], payload: r.bytes(r.int(2) ? 64 : r.int(70)) });
      input = r.int(2) ? b : mutate(r, base);
    }
    try {
      const err = codec.parse(input);
      const ref = refParse(input);
      if (err === 0) {
        parsedOk++;
        assert.equal(ref.err, null, "our parser accepted what the reference rejects");
        assert.deepEqual(codec.options().map(([n, v]) => [n, hex(v)]), ref.options);
        assert.equal(hex(codec.payload()), ref.payload);
        for (const g of ["msgContentFormat", "msgAccept", "msgMaxAge", "msgUriPort", "msgObserve", "msgBlock1", "msgBlock2", "msgSize1", "msgSize2", "msgIfNoneMatch"]) codec.ex[g]();
        codec.ex.msgCount(O.URI_PATH);
      } else {
        assert.notEqual(ref.err, null, `our parser rejected (${err}) what the reference accepts`);
      }

      server.feed(input, now);
      for (const e of server.drainEvents()) {
        if (e.kind === Ev.Request) { server.ex.demoServe(BigInt(now)); served++; }
        else server.ex.demoEvent(e.kind, e.slot, e.mid, BigInt(now));
      }
      if (r.int(20) === 0) server.ex.demoNotify(BigInt(now));
      if (r.int(30) === 0) server.ex.demoSeparate(BigInt(now));
      server.drainTx();

      if (!client.ex.epSlotBusy(0)) startTransfer();
      client.drainTx();
      client.feed(input, now);
      for (const e of client.drainEvents()) {
        clientEvents++;
        if (e.kind === Ev.Response) client.ex.bcOnResponse(BigInt(now));
      }
      client.drainTx();
      now += r.int(5000);
      server.timeout(now);
      client.timeout(now);
      server.drainEvents().forEach((e) => server.ex.demoEvent(e.kind, e.slot, e.mid, BigInt(now)));
      client.drainEvents();
      server.drainTx();
      client.drainTx();
    } catch (e) {
      console.error(`fuzz-coap failure: seed ${SEED} iteration ${i} input ${hex(input)}`);
      throw e;
    }
  }
  console.log(`fuzz-coap: ${ITERATIONS} inputs, ${parsedOk} well-formed, ${served} requests served, ${clientEvents} client events`);
  assert.ok(parsedOk > ITERATIONS / 5 && served > ITERATIONS / 20, "the inputs reach deep into the layers");
});
