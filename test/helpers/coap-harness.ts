// Harness for the CoAP layer (build/test/coap.wasm): a seeded rng_fill, an
// independent JS encoder/decoder of CoAP messages (RFC 7252 §3) to build
// inputs and check outputs without trusting the codec under test, and
// wrappers that pump the sans-I/O endpoint.
import { loadTest, TestModule, hex } from "./wasm";

export const T = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export const C = {
  EMPTY: 0x00, GET: 0x01, POST: 0x02, PUT: 0x03, DELETE: 0x04,
  CREATED: 0x41, DELETED: 0x42, CHANGED: 0x44, CONTENT: 0x45, CONTINUE: 0x5f,
  BAD_REQUEST: 0x80, BAD_OPTION: 0x82, NOT_FOUND: 0x84, METHOD_NOT_ALLOWED: 0x85,
  INCOMPLETE: 0x88, TOO_LARGE: 0x8d, PROXYING_NOT_SUPPORTED: 0xa5,
} as const;
export const O = {
  IF_MATCH: 1, URI_HOST: 3, ETAG: 4, IF_NONE_MATCH: 5, OBSERVE: 6, URI_PORT: 7, LOCATION_PATH: 8,
  URI_PATH: 11, CONTENT_FORMAT: 12, MAX_AGE: 14, URI_QUERY: 15, ACCEPT: 17, LOCATION_QUERY: 20,
  BLOCK2: 23, BLOCK1: 27, SIZE2: 28, PROXY_URI: 35, PROXY_SCHEME: 39, SIZE1: 60,
} as const;
export const Ev = { None: 0, Request: 1, Response: 2, Timeout: 3, Reset: 4, Acked: 5 } as const;
export const Err = {
  Truncated: -1, Version: -2, TokenLength: -3, EmptyWithData: -4, OptionDelta15: -5, OptionLength15: -6,
  EmptyPayload: -7, OptionNumber: -8, ReservedClass: -9, NoSpace: -10, OptionOrder: -11, BadArgument: -12,
  Busy: -13, NoRequest: -14, Rng: -15, BadBlock: -20, Incomplete: -21, TooLarge: -22, ETagMismatch: -23,
  ObserveFull: -24, PathTooLong: -25,
} as const;

export const codeStr = (c: number) => `${c >> 5}.${String(c & 31).padStart(2, "0")}`;

// ---- independent reference codec ----------------------------------------------
export interface Msg {
  type: number;
  code: number;
  mid: number;
  token: Uint8Array;
  options: [number, Uint8Array][];
  payload: Uint8Array;
}

export function uintBytes(v: number): Uint8Array {
  const out: number[] = [];
  while (v > 0) { out.unshift(v & 0xff); v = Math.floor(v / 256); }
  return Uint8Array.from(out);
}
export const readUint = (b: Uint8Array) => b.reduce((v, x) => v * 256 + x, 0);
export const ascii = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
export const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

function ext(v: number): [number, number[]] {
  if (v < 13) return [v, []];
  if (v < 269) return [13, [v - 13]];
  return [14, [(v - 269) >> 8, (v - 269) & 0xff]];
}

/** Encodes a message; options are sorted stably by number (RFC 7252 §3.1). */
export function encode(m: Partial<Msg> & { type: number; code: number }): Uint8Array {
  const token = m.token ?? new Uint8Array(0);
  const out: number[] = [0x40 | (m.type << 4) | token.length, m.code, ((m.mid ?? 0) >> 8) & 0xff, (m.mid ?? 0) & 0xff, ...token];
  const opts = [...(m.options ?? [])].map((o, i) => [o, i] as const).sort((a, b) => a[0][0] - b[0][0] || a[1] - b[1]).map((x) => x[0]);
  let last = 0;
  for (const [num, val] of opts) {
    const [dn, de] = ext(num - last);
    const [ln, le] = ext(val.length);
    out.push((dn << 4) | ln, ...de, ...le, ...val);
    last = num;
  }
  const payload = m.payload ?? new Uint8Array(0);
  if (payload.length) out.push(0xff, ...payload);
  return Uint8Array.from(out);
}

/** Decodes a well-formed message (throws on anything else). */
export function decode(b: Uint8Array): Msg {
  if (b.length < 4 || b[0] >> 6 !== 1) throw new Error("bad header " + hex(b));
  const tkl = b[0] & 15;
  if (tkl > 8) throw new Error("bad tkl");
  const m: Msg = { type: (b[0] >> 4) & 3, code: b[1], mid: (b[2] << 8) | b[3], token: b.slice(4, 4 + tkl), options: [], payload: new Uint8Array(0) };
  let p = 4 + tkl;
  let num = 0;
  const rd = (n: number) => {
    if (n === 13) return 13 + b[p++];
    if (n === 14) { const v = 269 + ((b[p] << 8) | b[p + 1]); p += 2; return v; }
    if (n === 15) throw new Error("nibble 15");
    return n;
  };
  while (p < b.length) {
    if (b[p] === 0xff) {
      if (p + 1 >= b.length) throw new Error("empty payload");
      m.payload = b.slice(p + 1);
      break;
    }
    const h = b[p++];
    num += rd(h >> 4);
    const len = rd(h & 15);
    if (p + len > b.length) throw new Error("truncated");
    m.options.push([num, b.slice(p, p + len)]);
    p += len;
  }
  return m;
}
export const opt = (m: Msg, num: number) => m.options.filter((o) => o[0] === num).map((o) => o[1]);
export const optUint = (m: Msg, num: number) => { const v = opt(m, num); return v.length ? readUint(v[0]) : -1; };
export const block = (num: number, more: boolean, szx: number) => uintBytes((num << 4) | (more ? 8 : 0) | szx);
export const uriPath = (path: string): [number, Uint8Array][] =>
  path.split("/").filter((s) => s.length).map((s) => [O.URI_PATH, ascii(s)]);

// ---- deterministic RNG -------------------------------------------------------------
export function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  return {
    u32: next,
    int: (n: number) => next() % n,
    bytes: (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = next() & 0xff; return b; },
  };
}

// ---- the module ----------------------------------------------------------------
export const INPUT = 0; // offsets inside the scratch area
export const TMPL = 0x10000;
export const UP = 0x12000;
export const DOWN = 0x20000;
export const OUT = 0x30000;

export interface EventRec { kind: number; slot: number; mid: number }

export class CoapModule {
  m: TestModule;
  ex: any;
  rng: ReturnType<typeof prng>;
  rngFail = false;
  rngCalls = 0;
  /** Bytes rng_fill hands out before the seeded PRNG (to replay exact IDs). */
  rngScript: number[] = [];

  constructor(seed = 1) {
    this.rng = prng(seed);
    this.m = loadTest("coap", {
      lwm2m_v1: {
        rng_fill: (ptr: number, len: number) => {
          this.rngCalls++;
          const view = this.m.mem().subarray(ptr, ptr + len);
          if (this.rngFail) { view.fill(0); return -3; }
          for (let i = 0; i < len; i++) view[i] = this.rngScript.length ? this.rngScript.shift()! : this.rng.u32() & 0xff;
          return 0;
        },
      },
    });
    this.ex = this.m.exports;
  }
  get s() { return this.m.scratch; }
  put(bytes: Uint8Array, off = INPUT) { this.m.write(bytes, this.s + off); return this.s + off; }
  read(ptr: number, len: number) { return this.m.read(ptr, len); }

  parse(bytes: Uint8Array): number { return this.ex.parse(this.put(bytes), bytes.length); }
  /** Options of the current message as the codec's iterator sees them. */
  options(): [number, Uint8Array][] {
    const n = this.ex.msgOptions(this.s + OUT, 0x8000);
    if (n < 0) throw new Error("msgOptions overflow");
    const b = this.read(this.s + OUT, n);
    const out: [number, Uint8Array][] = [];
    for (let p = 0; p < n;) {
      const num = b[p] | (b[p + 1] << 8), len = b[p + 2] | (b[p + 3] << 8);
      out.push([num, b.slice(p + 4, p + 4 + len)]);
      p += 4 + len;
    }
    return out;
  }
  payload(): Uint8Array { return this.read(this.ex.msgPayload(), this.ex.msgPayloadLen()); }
  token(): Uint8Array { return this.read(this.ex.msgToken(), this.ex.msgTkl()); }

  /** Builds with the module's writer; returns bytes or the error code. */
  build(msg: Partial<Msg> & { type: number; code: number }, cap = 2048, unsorted = false): Uint8Array | number {
    const tok = msg.token ?? new Uint8Array(0);
    this.put(tok, TMPL);
    this.ex.wBegin(this.s + OUT, cap, msg.type, msg.code, msg.mid ?? 0, this.s + TMPL, tok.length);
    this.writeOptions(msg.options ?? [], unsorted);
    if (msg.payload?.length) { this.put(msg.payload, TMPL + 0x100); this.ex.wPayload(this.s + TMPL + 0x100, msg.payload.length); }
    const n = this.ex.wFinish();
    return n < 0 ? n : this.read(this.ex.wBuf(), n);
  }
  /** Adds options to the current writer (sorted unless asked not to). */
  writeOptions(options: [number, Uint8Array][], unsorted = false) {
    const opts = unsorted ? options : [...options].sort((a, b) => a[0] - b[0]);
    for (const [num, val] of opts) {
      this.put(val, TMPL + 0x800);
      this.ex.wOption(num, this.s + TMPL + 0x800, val.length);
    }
  }

  // endpoint
  epInit(msgCap = 1152, slots = 3, dedup = 8): number { return this.ex.epInit(msgCap, slots, dedup); }
  feed(bytes: Uint8Array, now: number): number { return this.ex.epHandle(this.put(bytes), bytes.length, BigInt(now)); }
  timeout(now: number) { this.ex.epTimeout(BigInt(now)); }
  deadline(): number { return Number(this.ex.epDeadline()); }
  drainTx(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let n; (n = this.ex.epPollTx()) > 0;) out.push(this.read(this.ex.epTxPtr(), n));
    return out;
  }
  drainEvents(): EventRec[] {
    const out: EventRec[] = [];
    for (let k; (k = this.ex.epPollEvent()) !== 0;) out.push({ kind: k, slot: this.ex.epEventSlot(), mid: this.ex.epEventMid() });
    return out;
  }
  /** A request through the endpoint: options/payload as given. Returns the slot or error. */
  request(type: number, code: number, options: [number, Uint8Array][], payload: Uint8Array | null, now: number): number {
    const e = this.ex.epBeginRequest(type, code);
    if (e < 0) return e;
    this.writeOptions(options);
    if (payload?.length) { this.put(payload, TMPL + 0x100); this.ex.wPayload(this.s + TMPL + 0x100, payload.length); }
    return this.ex.epSend(BigInt(now));
  }
  respond(code: number, options: [number, Uint8Array][], payload: Uint8Array | null, now: number): number {
    const e = this.ex.epBeginResponse(code);
    if (e < 0) return e;
    this.writeOptions(options);
    if (payload?.length) { this.put(payload, TMPL + 0x100); this.ex.wPayload(this.s + TMPL + 0x100, payload.length); }
    return this.ex.epSend(BigInt(now));
  }
  slotToken(slot: number) { return this.read(this.ex.epSlotToken(slot), this.ex.epSlotTkl(slot)); }
  /** Template message (options only) for the block client, written at TMPL. */
  template(options: [number, Uint8Array][]): [number, number] {
    const b = encode({ type: T.CON, code: C.GET, options });
    this.put(b, TMPL);
    return [this.s + TMPL, b.length];
  }
  blockStart(type: number, code: number, options: [number, Uint8Array][], up: Uint8Array | null,
    downCap: number, szx1: number, szx2: number, now: number): number {
    const [tp, tl] = this.template(options);
    if (up) this.put(up, UP);
    return this.ex.bcStart(type, code, tp, tl, this.s + UP, up?.length ?? 0, downCap ? this.s + DOWN : 0, downCap, szx1, szx2, BigInt(now));
  }
  downloaded(): Uint8Array { return this.read(this.s + DOWN, this.ex.bcDownLen()); }
}

/** /large of the demo server, as assembly/tests/coap.ts generates it. */
export function largeRepresentation(n = 3000): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = i % 64 === 63 ? 0x0a : 0x41 + ((i * 7 + (i >> 6)) % 26);
  return b;
}
