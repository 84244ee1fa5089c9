// A compact CoAP (RFC 7252) codec and transaction layer for the development
// servers: CON/NON/ACK/RST, retransmission with exponential back-off,
// tokens, deduplication over EXCHANGE_LIFETIME, piggybacked and separate
// responses, block-wise transfer (RFC 7959: Block2 to receive large
// responses, Block1 to send large requests and to receive large requests),
// and Observe on the client side (RFC 7641: register, notifications with
// reordering detection, cancel). Works over any `ServerTransport`.
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import type { PeerInfo, ServerTransport } from "./transport";

// ---- constants ------------------------------------------------------------------------

export const Type = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;

/** Codes as the 8-bit c.dd value (RFC 7252 §12.1). */
export const Code = {
  EMPTY: 0x00, GET: 0x01, POST: 0x02, PUT: 0x03, DELETE: 0x04, FETCH: 0x05, PATCH: 0x06, IPATCH: 0x07,
  CREATED: 0x41, DELETED: 0x42, VALID: 0x43, CHANGED: 0x44, CONTENT: 0x45, CONTINUE: 0x5f,
  BAD_REQUEST: 0x80, UNAUTHORIZED: 0x81, BAD_OPTION: 0x82, FORBIDDEN: 0x83, NOT_FOUND: 0x84,
  METHOD_NOT_ALLOWED: 0x85, NOT_ACCEPTABLE: 0x86, REQUEST_ENTITY_INCOMPLETE: 0x88, PRECONDITION_FAILED: 0x8c,
  REQUEST_ENTITY_TOO_LARGE: 0x8d, UNSUPPORTED_CONTENT_FORMAT: 0x8f,
  INTERNAL_SERVER_ERROR: 0xa0, NOT_IMPLEMENTED: 0xa1, SERVICE_UNAVAILABLE: 0xa3,
} as const;

export const Opt = {
  IF_MATCH: 1, URI_HOST: 3, ETAG: 4, IF_NONE_MATCH: 5, OBSERVE: 6, URI_PORT: 7, LOCATION_PATH: 8,
  URI_PATH: 11, CONTENT_FORMAT: 12, MAX_AGE: 14, URI_QUERY: 15, ACCEPT: 17, LOCATION_QUERY: 20,
  BLOCK2: 23, BLOCK1: 27, SIZE2: 28, PROXY_URI: 35, PROXY_SCHEME: 39, SIZE1: 60, NO_RESPONSE: 258,
} as const;

const KNOWN_OPTIONS = new Set<number>(Object.values(Opt));

export const ContentFormat = {
  TEXT: 0, LINK_FORMAT: 40, OPAQUE: 42, CBOR: 60, SENML_JSON: 110, SENML_CBOR: 112,
  TLV: 11542, LWM2M_JSON: 11543, LWM2M_CBOR: 11544,
} as const;

/** "2.05" for 0x45. */
export function codeString(code: number): string {
  return `${code >> 5}.${String(code & 31).padStart(2, "0")}`;
}
export function codeFromString(s: string): number {
  const m = /^([0-7])\.(\d\d)$/.exec(s);
  if (!m || Number(m[2]) > 31) throw new Error(`bad CoAP code '${s}'`);
  return (Number(m[1]) << 5) | Number(m[2]);
}
const METHOD_NAMES: Record<number, string> = { 1: "GET", 2: "POST", 3: "PUT", 4: "DELETE", 5: "FETCH", 6: "PATCH", 7: "iPATCH" };
export const isRequestCode = (c: number) => c >= 1 && c <= 31;
export const isResponseCode = (c: number) => c >> 5 === 2 || c >> 5 === 4 || c >> 5 === 5;
export const isSuccess = (c: number) => c >> 5 === 2;

// ---- messages ------------------------------------------------------------------------

export interface CoapOption { number: number; value: Uint8Array }

export interface CoapMessage {
  type: number;
  code: number;
  mid: number;
  token: Uint8Array;
  options: CoapOption[];
  payload: Uint8Array;
}

export class CoapFormatError extends Error {
  constructor(reason: string) { super(`malformed CoAP message: ${reason}`); this.name = "CoapFormatError"; }
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: false });
export const toBytes = (s: string) => utf8.encode(s);
export const toText = (b: Uint8Array) => utf8d.decode(b);

/** Minimal big-endian unsigned integer (RFC 7252 §3.2 uint: 0 is the empty string). */
export function encodeUint(v: number): Uint8Array {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`uint option out of range: ${v}`);
  const out: number[] = [];
  while (v > 0) { out.unshift(v & 0xff); v = Math.floor(v / 256); }
  return Uint8Array.from(out);
}
export function decodeUint(b: Uint8Array): number {
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

function extNibble(v: number): [number, number[]] {
  if (v < 13) return [v, []];
  if (v < 269) return [13, [v - 13]];
  if (v < 65805) return [14, [(v - 269) >> 8, (v - 269) & 0xff]];
  throw new RangeError("option delta/length too large");
}

/** Encodes a message (RFC 7252 §3); options are sorted stably by number. */
export function encodeMessage(m: CoapMessage): Uint8Array {
  if (m.token.length > 8) throw new RangeError("token longer than 8 bytes");
  const out: number[] = [0x40 | ((m.type & 3) << 4) | m.token.length, m.code & 0xff, (m.mid >> 8) & 0xff, m.mid & 0xff];
  for (const b of m.token) out.push(b);
  const opts = m.options.map((o, i) => [o, i] as const).sort((a, b) => a[0].number - b[0].number || a[1] - b[1]).map((x) => x[0]);
  let last = 0;
  for (const o of opts) {
    const [dn, de] = extNibble(o.number - last);
    const [ln, le] = extNibble(o.value.length);
    out.push((dn << 4) | ln, ...de, ...le);
    for (const b of o.value) out.push(b);
    last = o.number;
  }
  const bytes = new Uint8Array(out.length + (m.payload.length ? 1 + m.payload.length : 0));
  bytes.set(out);
  if (m.payload.length) { bytes[out.length] = 0xff; bytes.set(m.payload, out.length + 1); }
  return bytes;
}

/** Decodes a message; throws CoapFormatError for anything RFC 7252 §3 calls a format error. */
export function decodeMessage(b: Uint8Array): CoapMessage {
  if (b.length < 4) throw new CoapFormatError("shorter than the 4-byte header");
  if (b[0] >> 6 !== 1) throw new CoapFormatError(`version ${b[0] >> 6}`);
  const tkl = b[0] & 15;
  if (tkl > 8) throw new CoapFormatError(`token length ${tkl}`);
  if (b.length < 4 + tkl) throw new CoapFormatError("truncated token");
  const m: CoapMessage = {
    type: (b[0] >> 4) & 3, code: b[1], mid: (b[2] << 8) | b[3],
    token: b.slice(4, 4 + tkl), options: [], payload: new Uint8Array(0),
  };
  if (m.code === 0 && (tkl !== 0 || b.length !== 4)) throw new CoapFormatError("empty message with token, options or payload");
  let p = 4 + tkl;
  let num = 0;
  const ext = (n: number): number => {
    if (n < 13) return n;
    if (n === 13) {
      if (p >= b.length) throw new CoapFormatError("truncated option header");
      return 13 + b[p++];
    }
    if (n === 14) {
      if (p + 1 >= b.length) throw new CoapFormatError("truncated option header");
      const v = 269 + ((b[p] << 8) | b[p + 1]);
      p += 2;
      return v;
    }
    throw new CoapFormatError("option nibble 15");
  };
  while (p < b.length) {
    if (b[p] === 0xff) {
      if (p + 1 >= b.length) throw new CoapFormatError("payload marker with empty payload");
      m.payload = b.slice(p + 1);
      break;
    }
    const h = b[p++];
    num += ext(h >> 4);
    const len = ext(h & 15);
    if (p + len > b.length) throw new CoapFormatError("option value runs past the end");
    m.options.push({ number: num, value: b.slice(p, p + len) });
    p += len;
  }
  return m;
}

// ---- option helpers ----------------------------------------------------------------------

export const getOption = (m: CoapMessage, num: number) => m.options.find((o) => o.number === num)?.value;
export const getOptions = (m: CoapMessage, num: number) => m.options.filter((o) => o.number === num).map((o) => o.value);
export function getUintOption(m: CoapMessage, num: number): number | undefined {
  const v = getOption(m, num);
  return v === undefined ? undefined : decodeUint(v);
}
export const uintOption = (num: number, v: number): CoapOption => ({ number: num, value: encodeUint(v) });
export const stringOption = (num: number, s: string): CoapOption => ({ number: num, value: toBytes(s) });

/** "/rd/5a" → Uri-Path options (empty segments dropped; "/" → none). */
export function pathOptions(path: string, num: number = Opt.URI_PATH): CoapOption[] {
  return path.split("/").filter((s) => s.length > 0).map((s) => stringOption(num, s));
}
export function queryOptions(query: Record<string, string | number | boolean | undefined> | string[]): CoapOption[] {
  const items = Array.isArray(query)
    ? query
    : Object.entries(query).filter(([, v]) => v !== undefined && v !== false).map(([k, v]) => (v === true ? k : `${k}=${v}`));
  return items.map((q) => stringOption(Opt.URI_QUERY, q));
}
/** The request path as "/a/b" ("/" when there is none). */
export const uriPathOf = (m: CoapMessage) => "/" + getOptions(m, Opt.URI_PATH).map(toText).join("/");
export const locationPathOf = (m: CoapMessage) => getOptions(m, Opt.LOCATION_PATH).map(toText);
export const uriQueryOf = (m: CoapMessage) => getOptions(m, Opt.URI_QUERY).map(toText);
/** Uri-Query items as a record ("b" alone → ""). Later duplicates win. */
export function queryRecord(items: string[]): Record<string, string> {
  const r: Record<string, string> = {};
  for (const q of items) {
    const i = q.indexOf("=");
    if (i < 0) r[q] = ""; else r[q.slice(0, i)] = q.slice(i + 1);
  }
  return r;
}

export interface BlockValue { num: number; more: boolean; szx: number }
export const blockSize = (szx: number) => 1 << (szx + 4);
export function encodeBlock(b: BlockValue): Uint8Array {
  return encodeUint(b.num * 16 + (b.more ? 8 : 0) + b.szx);
}
/** RFC 7959 §2.2; szx 7 (BERT) is reserved over UDP and refused. */
export function decodeBlock(v: Uint8Array): BlockValue | null {
  if (v.length > 3) return null;
  const x = decodeUint(v);
  const szx = x & 7;
  if (szx === 7) return null;
  return { num: x >>> 4, more: (x & 8) !== 0, szx };
}

export function describe(m: CoapMessage): string {
  const t = ["CON", "NON", "ACK", "RST"][m.type];
  const what = m.code === 0 ? "empty" : isRequestCode(m.code) ? `${METHOD_NAMES[m.code] ?? codeString(m.code)} ${uriPathOf(m)}` : codeString(m.code);
  return `${t} ${what} mid=${m.mid} token=${Buffer.from(m.token).toString("hex")}${m.payload.length ? ` ${m.payload.length}B` : ""}`;
}

// ---- transaction layer --------------------------------------------------------------------

export interface TransmissionParams {
  /** RFC 7252 §4.8 ACK_TIMEOUT (ms). */
  ackTimeoutMs: number;
  ackRandomFactor: number;
  maxRetransmit: number;
  /** How long received message IDs are remembered for deduplication (EXCHANGE_LIFETIME, 247 s). */
  exchangeLifetimeMs: number;
  /** How long we wait for a separate response after an empty ACK, or a response to a NON request. */
  responseTimeoutMs: number;
  /** A request handler that takes longer than this gets an empty ACK and a separate response. */
  separateResponseAfterMs: number;
  /** Largest block size exponent (SZX) we send in: Block1 uploads and Block2 responses we serve (6 = 1024 bytes). */
  blockSzx: number;
  /** Outstanding interactions per peer (RFC 7252 §4.7 NSTART). */
  nstart: number;
  /** Largest request body reassembled from Block1 (bigger → 4.13). */
  maxBodySize: number;
}

export const DEFAULT_PARAMS: TransmissionParams = {
  ackTimeoutMs: 2000, ackRandomFactor: 1.5, maxRetransmit: 4, exchangeLifetimeMs: 247_000,
  responseTimeoutMs: 30_000, separateResponseAfterMs: 500, blockSzx: 6, nstart: 1, maxBodySize: 65536,
};

/** Parameters scaled down for tests: ACK_TIMEOUT 100 ms, 2 retransmissions. */
export const FAST_PARAMS: Partial<TransmissionParams> = {
  ackTimeoutMs: 100, ackRandomFactor: 1.5, maxRetransmit: 2, exchangeLifetimeMs: 5_000, responseTimeoutMs: 2_000, separateResponseAfterMs: 50,
};

export class CoapTimeoutError extends Error {
  constructor(readonly peerKey: string, readonly what: string, detail: string) {
    super(`CoAP ${what} to ${peerKey} timed out: ${detail}`);
    this.name = "CoapTimeoutError";
  }
}
export class CoapResetError extends Error {
  constructor(readonly peerKey: string, readonly what: string) {
    super(`CoAP ${what} to ${peerKey} was rejected with RST`);
    this.name = "CoapResetError";
  }
}
export class CoapClosedError extends Error {
  constructor() { super("CoAP endpoint closed"); this.name = "CoapClosedError"; }
}

export interface OutgoingRequest {
  code: number;
  path?: string;
  query?: Record<string, string | number | boolean | undefined> | string[];
  /** Further options (Content-Format/Accept/Observe may also be given below). */
  options?: CoapOption[];
  payload?: Uint8Array;
  contentFormat?: number;
  accept?: number;
  confirmable?: boolean;
  /** Override of the endpoint's Block1/Block2 SZX for this request. */
  blockSzx?: number;
}

export interface CoapResponse {
  code: number;
  /** The last response message (after block-wise reassembly: the last block). */
  message: CoapMessage;
  /** The full representation (all Block2 blocks). */
  payload: Uint8Array;
  contentFormat?: number;
  /** Observe sequence number of a notification or of an accepted registration. */
  observe?: number;
}

export interface IncomingRequest {
  peerKey: string;
  peer: PeerInfo;
  message: CoapMessage;
  code: number;
  method: string;
  path: string;
  query: string[];
  /** Whole body (Block1 reassembled). */
  payload: Uint8Array;
  contentFormat?: number;
  accept?: number;
}

export interface OutgoingResponse {
  code: number;
  options?: CoapOption[];
  payload?: Uint8Array;
  contentFormat?: number;
  locationPath?: string[];
}

export type RequestHandler = (req: IncomingRequest) => OutgoingResponse | Promise<OutgoingResponse>;

export interface Observation {
  /** The response to the registering request (an accepted observation carries Observe). */
  response: CoapResponse;
  /** true when the server accepted the observation (Observe option in the response). */
  established: boolean;
  token: Uint8Array;
  /** Active cancel (GET with Observe=1, same token; RFC 7641 §3.6) or passive (forget, RST the next notification). */
  cancel(mode?: "active" | "passive"): Promise<CoapResponse | void>;
}

interface OutgoingCon {
  bytes: Uint8Array;
  retransmits: number;
  timeout: number;
  timer: NodeJS.Timeout | null;
  onAck: (m: CoapMessage) => void;
  onReset: () => void;
  onGiveUp: () => void;
}

interface Exchange {
  peerKey: string;
  token: string;
  what: string;
  /** MID of the request (to stop its retransmission when a separate response arrives first). */
  mid: number;
  resolve: (m: CoapMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

interface ObserveState {
  peerKey: string;
  request: OutgoingRequest;
  onNotify: (r: CoapResponse) => void;
  onError: (e: Error) => void;
  lastSeq: number;
  lastTime: number;
  established: boolean;
}

interface Block1Reassembly { chunks: Uint8Array[]; size: number; next: number; szx: number; timer: NodeJS.Timeout }

interface Dedup { reply: Uint8Array | null; expires: number }

const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");

/**
 * One CoAP endpoint on a transport: it answers requests through `handler`
 * and makes requests (`request`, `observe`, `ping`) to peers.
 * Events: 'malformed' (peerKey, error), 'message-in' / 'message-out'
 * (peerKey, CoapMessage) for tracing.
 */
export class CoapEndpoint extends EventEmitter {
  readonly params: TransmissionParams;
  handler: RequestHandler | null = null;
  private nextMid = randomBytes(2).readUInt16BE(0);
  private outgoing = new Map<string, OutgoingCon>(); // peer|mid
  private exchanges = new Map<string, Exchange>(); // peer|token
  private observations = new Map<string, ObserveState>(); // peer|token
  private dedup = new Map<string, Dedup>(); // peer|mid, in expiry order
  private block1 = new Map<string, Block1Reassembly>(); // peer|path?query
  private active = new Map<string, number>(); // outstanding interactions per peer
  private waiting = new Map<string, (() => void)[]>();
  private timers = new Set<NodeJS.Timeout>();
  private pings = new Set<(e: Error) => void>();
  private closed = false;
  private readonly listener = (peerKey: string, bytes: Uint8Array, peer: PeerInfo) => this.receive(peerKey, bytes, peer);

  constructor(readonly transport: ServerTransport, params: Partial<TransmissionParams> = {}, handler?: RequestHandler) {
    super();
    this.params = { ...DEFAULT_PARAMS, ...params };
    if (handler) this.handler = handler;
    transport.on("datagram", this.listener);
  }

  // ---- sending ----

  private mid(): number { this.nextMid = (this.nextMid + 1) & 0xffff; return this.nextMid; }

  private transmit(peerKey: string, m: CoapMessage): Uint8Array {
    const bytes = encodeMessage(m);
    this.emit("message-out", peerKey, m);
    if (!this.closed) this.transport.send(peerKey, bytes);
    return bytes;
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }
  private clear(t: NodeJS.Timeout | null) { if (t) { clearTimeout(t); this.timers.delete(t); } }

  /** Sends a CON message with retransmission (RFC 7252 §4.2). */
  private sendCon(peerKey: string, m: CoapMessage, cb: Pick<OutgoingCon, "onAck" | "onReset" | "onGiveUp">) {
    const key = `${peerKey}|${m.mid}`;
    const p = this.params;
    const rec: OutgoingCon = {
      bytes: this.transmit(peerKey, m), retransmits: 0,
      timeout: p.ackTimeoutMs * (1 + Math.random() * (p.ackRandomFactor - 1)), timer: null, ...cb,
    };
    const arm = () => {
      rec.timer = this.later(rec.timeout, () => {
        if (rec.retransmits >= p.maxRetransmit) { this.outgoing.delete(key); rec.onGiveUp(); return; }
        rec.retransmits++;
        rec.timeout *= 2;
        this.emit("message-out", peerKey, m);
        if (!this.closed) this.transport.send(peerKey, rec.bytes);
        arm();
      });
    };
    arm();
    this.outgoing.set(key, rec);
  }

  private stopCon(peerKey: string, mid: number): OutgoingCon | undefined {
    const key = `${peerKey}|${mid}`;
    const rec = this.outgoing.get(key);
    if (rec) { this.clear(rec.timer); this.outgoing.delete(key); }
    return rec;
  }

  private async acquire(peerKey: string): Promise<void> {
    const n = this.active.get(peerKey) ?? 0;
    if (n < this.params.nstart) { this.active.set(peerKey, n + 1); return; }
    await new Promise<void>((res) => {
      const q = this.waiting.get(peerKey) ?? [];
      q.push(res);
      this.waiting.set(peerKey, q);
    });
  }
  private release(peerKey: string) {
    const q = this.waiting.get(peerKey);
    const next = q?.shift();
    if (q && q.length === 0) this.waiting.delete(peerKey);
    if (next) next(); // the slot passes on
    else {
      const n = (this.active.get(peerKey) ?? 1) - 1;
      if (n <= 0) this.active.delete(peerKey); else this.active.set(peerKey, n);
    }
  }

  /**
   * One request message and its response (piggybacked or separate), no
   * block-wise logic. The token is fresh unless given (observe cancel).
   */
  private exchange(peerKey: string, base: Omit<CoapMessage, "mid" | "token" | "type">, confirmable: boolean, token?: Uint8Array, onRegistered?: (tok: Uint8Array) => void): Promise<CoapMessage> {
    if (this.closed) return Promise.reject(new CoapClosedError());
    const tok = token ?? randomBytes(8);
    const m: CoapMessage = { ...base, type: confirmable ? Type.CON : Type.NON, mid: this.mid(), token: tok };
    const what = `${METHOD_NAMES[m.code] ?? codeString(m.code)} ${uriPathOf(m)}`;
    const tkey = `${peerKey}|${hexOf(tok)}`;
    return new Promise<CoapMessage>((resolve, reject) => {
      const ex: Exchange = {
        peerKey, token: hexOf(tok), what, mid: m.mid, timer: null,
        resolve: (r) => { this.clear(ex.timer); this.exchanges.delete(tkey); resolve(r); },
        reject: (e) => { this.clear(ex.timer); this.exchanges.delete(tkey); this.stopCon(peerKey, m.mid); reject(e); },
      };
      this.exchanges.set(tkey, ex);
      onRegistered?.(tok);
      const waitResponse = (detail: string) => {
        ex.timer = this.later(this.params.responseTimeoutMs, () => ex.reject(new CoapTimeoutError(peerKey, what, detail)));
      };
      if (confirmable) {
        this.sendCon(peerKey, m, {
          onAck: (ack) => {
            if (ack.code === 0) { waitResponse(`no separate response within ${this.params.responseTimeoutMs} ms after the empty ACK`); return; }
            if (hexOf(ack.token) !== ex.token) return;
            ex.resolve(ack);
          },
          onReset: () => ex.reject(new CoapResetError(peerKey, what)),
          onGiveUp: () => ex.reject(new CoapTimeoutError(peerKey, what, `no ACK after ${this.params.maxRetransmit} retransmissions`)),
        });
      } else {
        this.transmit(peerKey, m);
        waitResponse(`no response to the NON request within ${this.params.responseTimeoutMs} ms`);
      }
    });
  }

  /**
   * A request with block-wise transfer: a payload larger than the block size
   * goes out in Block1 blocks (RFC 7959 §2.5), a response with Block2 M=1 is
   * fetched to the end (§2.4). Resolves with the final response.
   */
  async request(peerKey: string, req: OutgoingRequest): Promise<CoapResponse> {
    await this.acquire(peerKey);
    try {
      return await this.requestHeld(peerKey, req);
    } finally {
      this.release(peerKey);
    }
  }

  private baseOptions(req: OutgoingRequest): CoapOption[] {
    const o: CoapOption[] = [...pathOptions(req.path ?? "/"), ...(req.query ? queryOptions(req.query) : []), ...(req.options ?? [])];
    if (req.contentFormat !== undefined) o.push(uintOption(Opt.CONTENT_FORMAT, req.contentFormat));
    if (req.accept !== undefined) o.push(uintOption(Opt.ACCEPT, req.accept));
    return o;
  }

  private async requestHeld(peerKey: string, req: OutgoingRequest, observe?: { register: (tok: Uint8Array) => void }): Promise<CoapResponse> {
    const confirmable = req.confirmable ?? true;
    const szx = req.blockSzx ?? this.params.blockSzx;
    const options = this.baseOptions(req);
    const body = req.payload ?? new Uint8Array(0);
    let resp: CoapMessage;
    if (body.length > blockSize(szx)) {
      // Block1 upload
      let offset = 0;
      let bszx = szx;
      let num = 0;
      for (;;) {
        const size = blockSize(bszx);
        const chunk = body.subarray(offset, offset + size);
        const more = offset + size < body.length;
        const opts = [...options, { number: Opt.BLOCK1, value: encodeBlock({ num, more, szx: bszx }) }];
        if (num === 0) opts.push(uintOption(Opt.SIZE1, body.length));
        resp = await this.exchange(peerKey, { code: req.code, options: opts, payload: chunk }, confirmable, undefined, num === 0 ? observe?.register : undefined);
        if (!more) break;
        if (resp.code !== Code.CONTINUE) return this.finish(peerKey, req, resp, confirmable); // error (e.g. 4.13)
        const b1 = getOption(resp, Opt.BLOCK1);
        const echoed = b1 ? decodeBlock(b1) : null;
        offset += size;
        if (echoed && echoed.szx < bszx) bszx = echoed.szx; // the server asks for smaller blocks
        num = offset / blockSize(bszx);
      }
    } else {
      resp = await this.exchange(peerKey, { code: req.code, options, payload: body }, confirmable, undefined, observe?.register);
    }
    return this.finish(peerKey, req, resp, confirmable);
  }

  /** Follows Block2 to the end of the representation (§2.4) with GETs without Observe (§2.6 / RFC 7641 §3.5). */
  private async finish(peerKey: string, req: OutgoingRequest, first: CoapMessage, confirmable: boolean): Promise<CoapResponse> {
    const b2raw = getOption(first, Opt.BLOCK2);
    const b2 = b2raw ? decodeBlock(b2raw) : null;
    const result = (msg: CoapMessage, payload: Uint8Array): CoapResponse => ({
      code: msg.code, message: msg, payload, contentFormat: getUintOption(first, Opt.CONTENT_FORMAT), observe: getUintOption(first, Opt.OBSERVE),
    });
    if (!b2 || !b2.more || !isSuccess(first.code)) return result(first, first.payload);
    if (b2.num !== 0) throw new Error(`Block2 response starts at block ${b2.num}`);
    const etag = getOption(first, Opt.ETAG);
    const chunks = [first.payload];
    let total = first.payload.length;
    let szx = b2.szx;
    let last = first;
    const base = this.baseOptions({ ...req, payload: undefined, contentFormat: undefined })
      .filter((o) => o.number !== Opt.OBSERVE && o.number !== Opt.BLOCK1 && o.number !== Opt.BLOCK2);
    for (;;) {
      const num = total / blockSize(szx);
      if (!Number.isInteger(num)) throw new Error("Block2 blocks of inconsistent size");
      const code = req.code === Code.FETCH ? Code.FETCH : Code.GET;
      last = await this.exchange(peerKey, { code, options: [...base, { number: Opt.BLOCK2, value: encodeBlock({ num, more: false, szx }) }], payload: new Uint8Array(0) }, confirmable);
      if (!isSuccess(last.code)) return result(last, last.payload);
      const tag = getOption(last, Opt.ETAG);
      if (etag && tag && hexOf(etag) !== hexOf(tag)) throw new Error("Block2 representation changed during the transfer (ETag mismatch)");
      const b = getOption(last, Opt.BLOCK2);
      const bv = b ? decodeBlock(b) : null;
      if (!bv || bv.num * blockSize(bv.szx) !== total) throw new Error("Block2 response for the wrong block");
      chunks.push(last.payload);
      total += last.payload.length;
      if (total > this.params.maxBodySize * 16) throw new Error("Block2 representation too large");
      if (!bv.more) break;
      szx = bv.szx;
    }
    const payload = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) { payload.set(c, o); o += c.length; }
    return { ...result(last, payload), observe: getUintOption(first, Opt.OBSERVE) };
  }

  /**
   * Observe (RFC 7641): GET with Observe=0; notifications (CON or NON,
   * block-wise ones completed with GETs) go to onNotify in order; stale
   * reordered ones are dropped (§3.4).
   */
  async observe(peerKey: string, req: OutgoingRequest, onNotify: (r: CoapResponse) => void, onError: (e: Error) => void = () => {}): Promise<Observation> {
    const st: ObserveState = { peerKey, request: req, onNotify, onError, lastSeq: -1, lastTime: 0, established: false };
    let tok: Uint8Array | null = null;
    const withObserve: OutgoingRequest = { ...req, options: [...(req.options ?? []), uintOption(Opt.OBSERVE, 0)] };
    await this.acquire(peerKey);
    let response: CoapResponse;
    try {
      response = await this.requestHeld(peerKey, withObserve, {
        register: (t) => { tok = t; this.observations.set(`${peerKey}|${hexOf(t)}`, st); },
      });
    } catch (e) {
      if (tok) this.observations.delete(`${peerKey}|${hexOf(tok)}`);
      throw e;
    } finally {
      this.release(peerKey);
    }
    const token = tok!;
    const okey = () => `${st.peerKey}|${hexOf(token)}`; // the peer may move (moveObservations)
    st.established = isSuccess(response.code) && getOption(response.message, Opt.OBSERVE) !== undefined;
    if (st.established) {
      if (st.lastSeq < 0) { st.lastSeq = response.observe ?? 0; st.lastTime = Date.now(); }
    } else {
      this.observations.delete(okey());
    }
    return {
      response, established: st.established, token,
      cancel: async (mode: "active" | "passive" = "active") => {
        const had = this.observations.delete(okey());
        if (mode === "passive" || !had || this.closed) return;
        // Same token and options, Observe=1 (deregister)
        const peer = st.peerKey;
        await this.acquire(peer);
        try {
          const r = await this.exchange(peer, { code: Code.GET, options: [...this.baseOptions(req), uintOption(Opt.OBSERVE, 1)], payload: new Uint8Array(0) }, req.confirmable ?? true, token);
          return this.finish(peer, req, r, req.confirmable ?? true);
        } finally {
          this.release(peer);
        }
      },
    };
  }

  /**
   * The observations made at peer `from` now belong to peer `to` (same tokens, same Observe
   * freshness state): the LwM2M Server calls it when an authenticated Update of the registration
   * comes from a new address (a wake from deep sleep, a NAT rebinding: LwM2M 1.1 Core §6.2.2,
   * §6.4), so that the notifications from there are matched, not answered with RST.
   */
  moveObservations(from: string, to: string): number {
    let n = 0;
    for (const [k, st] of [...this.observations]) {
      if (st.peerKey !== from || !k.startsWith(`${from}|`)) continue;
      this.observations.delete(k);
      st.peerKey = to;
      this.observations.set(`${to}|${k.slice(from.length + 1)}`, st);
      n++;
    }
    return n;
  }

  /** CoAP ping: an empty CON answered by RST (RFC 7252 §4.3). */
  ping(peerKey: string): Promise<void> {
    if (this.closed) return Promise.reject(new CoapClosedError());
    return new Promise((resolve, reject) => {
      const m: CoapMessage = { type: Type.CON, code: 0, mid: this.mid(), token: new Uint8Array(0), options: [], payload: new Uint8Array(0) };
      const fail = (e: Error) => { this.pings.delete(fail); reject(e); };
      this.pings.add(fail);
      this.sendCon(peerKey, m, {
        onAck: () => { this.pings.delete(fail); resolve(); }, onReset: () => { this.pings.delete(fail); resolve(); },
        onGiveUp: () => fail(new CoapTimeoutError(peerKey, "ping", "no RST")),
      });
    });
  }

  // ---- receiving ----

  private remember(key: string): Dedup | undefined {
    const now = Date.now();
    for (const [k, v] of this.dedup) { if (v.expires > now) break; this.dedup.delete(k); }
    const seen = this.dedup.get(key);
    if (seen) return seen;
    this.dedup.set(key, { reply: null, expires: now + this.params.exchangeLifetimeMs });
    return undefined;
  }

  private reply(peerKey: string, m: CoapMessage, dkey?: string) {
    const bytes = this.transmit(peerKey, m);
    const d = dkey ? this.dedup.get(dkey) : undefined;
    if (d) d.reply = bytes;
  }

  private rst(peerKey: string, mid: number) {
    this.transmit(peerKey, { type: Type.RST, code: 0, mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) });
  }

  receive(peerKey: string, bytes: Uint8Array, peer: PeerInfo) {
    if (this.closed) return;
    let m: CoapMessage;
    try {
      m = decodeMessage(bytes);
    } catch (e) {
      this.emit("malformed", peerKey, e);
      // §4.2/§4.3: a CON with a format error is rejected (RST), a NON is silently ignored
      if (bytes.length >= 4 && bytes[0] >> 6 === 1 && ((bytes[0] >> 4) & 3) === Type.CON) this.rst(peerKey, (bytes[2] << 8) | bytes[3]);
      return;
    }
    this.emit("message-in", peerKey, m);
    if (m.type === Type.ACK || m.type === Type.RST) return this.onAckOrReset(peerKey, m);
    if (m.code === 0) { if (m.type === Type.CON) this.rst(peerKey, m.mid); return; } // ping
    const cls = m.code >> 5;
    if (cls === 1 || cls >= 6) { this.emit("malformed", peerKey, new CoapFormatError(`reserved code ${codeString(m.code)}`)); if (m.type === Type.CON) this.rst(peerKey, m.mid); return; }
    const dkey = `${peerKey}|${m.mid}`;
    const seen = this.remember(dkey);
    if (seen) { if (seen.reply && m.type === Type.CON) { this.emit("message-out", peerKey, decodeMessage(seen.reply)); this.transport.send(peerKey, seen.reply); } return; }
    if (isRequestCode(m.code)) { void this.onRequest(peerKey, peer, m, dkey); return; }
    this.onResponse(peerKey, m, dkey);
  }

  private onAckOrReset(peerKey: string, m: CoapMessage) {
    const rec = this.stopCon(peerKey, m.mid);
    if (!rec) return; // an ACK/RST for nothing we sent (or already done)
    if (m.type === Type.RST) { rec.onReset(); return; }
    rec.onAck(m);
  }

  private onResponse(peerKey: string, m: CoapMessage, dkey: string) {
    const tkey = `${peerKey}|${hexOf(m.token)}`;
    const ex = this.exchanges.get(tkey);
    const obs = this.observations.get(tkey);
    if (!ex && !obs) {
      // RFC 7252 §4.2 / RFC 7641 §3.6: a response nobody waits for is rejected
      this.reply(peerKey, { type: Type.RST, code: 0, mid: m.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }, dkey);
      return;
    }
    if (m.type === Type.CON) this.reply(peerKey, { type: Type.ACK, code: 0, mid: m.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }, dkey);
    if (ex) {
      this.stopCon(peerKey, ex.mid); // a separate response also acknowledges the request
      ex.resolve(m);
      return;
    }
    if (obs) this.onNotification(obs, tkey, m);
  }

  private onNotification(obs: ObserveState, tkey: string, m: CoapMessage) {
    const seq = getUintOption(m, Opt.OBSERVE);
    if (seq === undefined || !isSuccess(m.code)) {
      // the observation ended (§3.2: a response without Observe or an error)
      this.observations.delete(tkey);
      void this.finish(obs.peerKey, obs.request, m, true).then(obs.onNotify, obs.onError);
      return;
    }
    const now = Date.now();
    // §3.4 freshness: newer when V1 < V2 < V1 + 2^23 (mod 2^24), or 128 s have passed
    const v1 = obs.lastSeq, v2 = seq;
    const fresh = v1 < 0 || (v1 < v2 && v2 - v1 < 1 << 23) || (v1 > v2 && v1 - v2 > 1 << 23) || now > obs.lastTime + 128_000;
    if (!fresh) return;
    obs.lastSeq = v2;
    obs.lastTime = now;
    const b2 = getOption(m, Opt.BLOCK2);
    if (b2 && decodeBlock(b2)?.more) {
      // the rest of a block-wise notification is fetched with plain GETs (RFC 7959 §2.6)
      void (async () => {
        await this.acquire(obs.peerKey);
        try { return await this.finish(obs.peerKey, obs.request, m, true); } finally { this.release(obs.peerKey); }
      })().then((r) => { if (obs.lastSeq === v2) obs.onNotify(r); }, obs.onError);
      return;
    }
    obs.onNotify({ code: m.code, message: m, payload: m.payload, contentFormat: getUintOption(m, Opt.CONTENT_FORMAT), observe: seq });
  }

  private async onRequest(peerKey: string, peer: PeerInfo, m: CoapMessage, dkey: string) {
    const respond = (r: OutgoingResponse, separate: boolean) => {
      const options = [...(r.options ?? [])];
      if (r.contentFormat !== undefined) options.push(uintOption(Opt.CONTENT_FORMAT, r.contentFormat));
      for (const seg of r.locationPath ?? []) options.push(stringOption(Opt.LOCATION_PATH, seg));
      const msg: CoapMessage = {
        type: m.type === Type.CON ? (separate ? Type.CON : Type.ACK) : Type.NON,
        code: r.code, mid: m.type === Type.CON && !separate ? m.mid : this.mid(), token: m.token, options, payload: r.payload ?? new Uint8Array(0),
      };
      if (msg.type === Type.CON) {
        this.sendCon(peerKey, msg, { onAck: () => {}, onReset: () => {}, onGiveUp: () => this.emit("malformed", peerKey, new Error(`separate response ${describe(msg)} never acknowledged`)) });
      } else {
        this.reply(peerKey, msg, separate ? undefined : dkey);
      }
    };
    // §5.4.1: unrecognised critical options → 4.02 (CON or NON)
    const badCritical = m.options.find((o) => (o.number & 1) === 1 && !KNOWN_OPTIONS.has(o.number));
    if (badCritical) { respond({ code: Code.BAD_OPTION, payload: toBytes(`unknown critical option ${badCritical.number}`) }, false); return; }

    let payload = m.payload;
    let finalBlock1: Uint8Array | undefined;
    const b1raw = getOption(m, Opt.BLOCK1);
    if (b1raw) {
      const b1 = decodeBlock(b1raw);
      if (!b1) { respond({ code: Code.BAD_OPTION, payload: toBytes("bad Block1") }, false); return; }
      const key = `${peerKey}|${m.code}|${uriPathOf(m)}?${uriQueryOf(m).join("&")}`;
      let r = this.block1.get(key);
      if (b1.num === 0) {
        if (r) { this.clear(r.timer); this.block1.delete(key); }
        const size1 = getUintOption(m, Opt.SIZE1);
        if (size1 !== undefined && size1 > this.params.maxBodySize) {
          respond({ code: Code.REQUEST_ENTITY_TOO_LARGE, options: [uintOption(Opt.SIZE1, this.params.maxBodySize)] }, false);
          return;
        }
        r = { chunks: [], size: 0, next: 0, szx: Math.min(b1.szx, this.params.blockSzx), timer: null as unknown as NodeJS.Timeout };
        this.block1.set(key, r);
      }
      if (!r || b1.num * blockSize(b1.szx) !== r.size || (b1.more && m.payload.length !== blockSize(b1.szx))) {
        respond({ code: Code.REQUEST_ENTITY_INCOMPLETE }, false);
        return;
      }
      this.clear(r.timer);
      r.chunks.push(m.payload);
      r.size += m.payload.length;
      if (r.size > this.params.maxBodySize) {
        this.block1.delete(key);
        respond({ code: Code.REQUEST_ENTITY_TOO_LARGE, options: [uintOption(Opt.SIZE1, this.params.maxBodySize)] }, false);
        return;
      }
      if (b1.more) {
        const rr = r;
        rr.timer = this.later(this.params.exchangeLifetimeMs, () => { if (this.block1.get(key) === rr) this.block1.delete(key); });
        // §2.3: 2.31 Continue, echoing the block (our preferred SZX if smaller)
        const szx = Math.min(b1.szx, this.params.blockSzx);
        respond({ code: Code.CONTINUE, options: [{ number: Opt.BLOCK1, value: encodeBlock({ num: (b1.num * blockSize(b1.szx)) / blockSize(szx), more: true, szx }) }] }, false);
        return;
      }
      this.block1.delete(key);
      payload = new Uint8Array(r.size);
      let o = 0;
      for (const c of r.chunks) { payload.set(c, o); o += c.length; }
      finalBlock1 = encodeBlock({ num: b1.num, more: false, szx: b1.szx });
    }

    const req: IncomingRequest = {
      peerKey, peer, message: m, code: m.code, method: METHOD_NAMES[m.code] ?? codeString(m.code),
      path: uriPathOf(m), query: uriQueryOf(m), payload,
      contentFormat: getUintOption(m, Opt.CONTENT_FORMAT), accept: getUintOption(m, Opt.ACCEPT),
    };
    let separate = false;
    let acked: NodeJS.Timeout | null = null;
    if (m.type === Type.CON) {
      acked = this.later(this.params.separateResponseAfterMs, () => {
        separate = true;
        this.reply(peerKey, { type: Type.ACK, code: 0, mid: m.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }, dkey);
      });
    }
    let out: OutgoingResponse;
    try {
      out = this.handler ? await this.handler(req) : { code: Code.NOT_FOUND };
    } catch (e) {
      out = { code: Code.INTERNAL_SERVER_ERROR, payload: toBytes(String((e as Error)?.message ?? e)) };
    }
    this.clear(acked);
    if (this.closed) return;
    if (finalBlock1) out = { ...out, options: [...(out.options ?? []), { number: Opt.BLOCK1, value: finalBlock1 }] };
    // Block2 (RFC 7959 §2.4): a representation larger than a block, or a request for a block, is served block by block
    const b2raw = getOption(m, Opt.BLOCK2);
    const b2 = b2raw ? decodeBlock(b2raw) : null;
    const body = out.payload ?? new Uint8Array(0);
    if (b2raw && !b2) out = { code: Code.BAD_OPTION, payload: toBytes("bad Block2") };
    else if (isSuccess(out.code) && (b2 || body.length > blockSize(this.params.blockSzx))) {
      const szx = Math.min(b2?.szx ?? this.params.blockSzx, this.params.blockSzx);
      const start = b2 ? b2.num * blockSize(b2.szx) : 0;
      const num = Math.floor(start / blockSize(szx));
      const from = num * blockSize(szx);
      if (from > 0 && from >= body.length) out = { code: Code.BAD_OPTION, payload: toBytes("Block2 out of range") };
      else {
        const opts = [...(out.options ?? []), { number: Opt.BLOCK2, value: encodeBlock({ num, more: from + blockSize(szx) < body.length, szx }) }];
        if (num === 0) opts.push(uintOption(Opt.SIZE2, body.length));
        out = { ...out, options: opts, payload: body.subarray(from, from + blockSize(szx)) };
      }
    }
    respond(out, separate);
  }

  // ---- teardown ----

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.transport.off("datagram", this.listener);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const err = new CoapClosedError();
    for (const ex of [...this.exchanges.values()]) ex.reject(err);
    for (const p of [...this.pings]) p(err);
    for (const rec of this.outgoing.values()) rec.onGiveUp = () => {};
    this.outgoing.clear();
    this.observations.clear();
    for (const q of this.waiting.values()) for (const w of q) w();
    this.waiting.clear();
  }
}
