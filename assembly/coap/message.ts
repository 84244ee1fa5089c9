// CoAP message codec (RFC 7252 §3, §5.4, §12.2; Observe RFC 7641; Block
// RFC 7959). A parsed message is a zero-copy view (CoapMessage, in caller
// memory) of the datagram: the options are checked once by coapParse, so the
// iterator and getters never fail afterwards. CoapWriter builds a message into
// a caller buffer, options in ascending order. No allocation anywhere.

export namespace CoapType {
  export const CON: i32 = 0;
  export const NON: i32 = 1;
  export const ACK: i32 = 2;
  export const RST: i32 = 3;
}

/** Codes as the header byte c.dd = (c << 5) | dd (§12.1). */
export namespace CoapCode {
  export const EMPTY: i32 = 0x00;
  export const GET: i32 = 0x01;
  export const POST: i32 = 0x02;
  export const PUT: i32 = 0x03;
  export const DELETE: i32 = 0x04;
  export const FETCH: i32 = 0x05;
  export const CREATED: i32 = 0x41; // 2.01
  export const DELETED: i32 = 0x42; // 2.02
  export const VALID: i32 = 0x43; // 2.03
  export const CHANGED: i32 = 0x44; // 2.04
  export const CONTENT: i32 = 0x45; // 2.05
  export const CONTINUE: i32 = 0x5f; // 2.31 (RFC 7959 §2.9.1)
  export const BAD_REQUEST: i32 = 0x80; // 4.00
  export const UNAUTHORIZED: i32 = 0x81; // 4.01
  export const BAD_OPTION: i32 = 0x82; // 4.02
  export const FORBIDDEN: i32 = 0x83; // 4.03
  export const NOT_FOUND: i32 = 0x84; // 4.04
  export const METHOD_NOT_ALLOWED: i32 = 0x85; // 4.05
  export const NOT_ACCEPTABLE: i32 = 0x86; // 4.06
  export const REQUEST_ENTITY_INCOMPLETE: i32 = 0x88; // 4.08 (RFC 7959 §2.9.2)
  export const PRECONDITION_FAILED: i32 = 0x8c; // 4.12
  export const REQUEST_ENTITY_TOO_LARGE: i32 = 0x8d; // 4.13
  export const UNSUPPORTED_CONTENT_FORMAT: i32 = 0x8f; // 4.15
  export const INTERNAL_SERVER_ERROR: i32 = 0xa0; // 5.00
  export const NOT_IMPLEMENTED: i32 = 0xa1; // 5.01
  export const SERVICE_UNAVAILABLE: i32 = 0xa3; // 5.03
  export const PROXYING_NOT_SUPPORTED: i32 = 0xa5; // 5.05
}

export namespace CoapOption {
  export const IF_MATCH: i32 = 1;
  export const URI_HOST: i32 = 3;
  export const ETAG: i32 = 4;
  export const IF_NONE_MATCH: i32 = 5;
  export const OBSERVE: i32 = 6; // RFC 7641
  export const URI_PORT: i32 = 7;
  export const LOCATION_PATH: i32 = 8;
  export const URI_PATH: i32 = 11;
  export const CONTENT_FORMAT: i32 = 12;
  export const MAX_AGE: i32 = 14;
  export const URI_QUERY: i32 = 15;
  export const ACCEPT: i32 = 17;
  export const LOCATION_QUERY: i32 = 20;
  export const BLOCK2: i32 = 23; // RFC 7959
  export const BLOCK1: i32 = 27;
  export const SIZE2: i32 = 28;
  export const PROXY_URI: i32 = 35;
  export const PROXY_SCHEME: i32 = 39;
  export const SIZE1: i32 = 60;
}

/** Error codes of the whole CoAP layer (negative). */
export namespace CoapError {
  // message format errors (RFC 7252 §3, §4.1, §12.1)
  export const Truncated: i32 = -1; // shorter than header, token or an option
  export const Version: i32 = -2; // version != 1: silently ignored (§3)
  export const TokenLength: i32 = -3; // TKL 9..15 (§3)
  export const EmptyWithData: i32 = -4; // code 0.00 with a token or bytes after the MID (§4.1)
  export const OptionDelta15: i32 = -5; // delta nibble 15 without a payload marker (§3.1)
  export const OptionLength15: i32 = -6; // length nibble 15 (§3.1)
  export const EmptyPayload: i32 = -7; // payload marker followed by nothing (§3)
  export const OptionNumber: i32 = -8; // option number above 65535
  export const ReservedClass: i32 = -9; // code class 1, 6 or 7 (§4.2, §12.1)
  // builder and API errors
  export const NoSpace: i32 = -10; // output buffer too small
  export const OptionOrder: i32 = -11; // option numbers not ascending / option after payload
  export const BadArgument: i32 = -12; // token > 8 bytes, value too long, ...
  export const Busy: i32 = -13; // no free transmit slot (NSTART = 1)
  export const NoRequest: i32 = -14; // nothing to answer
  export const Rng: i32 = -15; // rng_fill failed (DRBG unhealthy): no predictable IDs
  // block-wise (RFC 7959)
  export const BadBlock: i32 = -20; // malformed/inconsistent Block option -> 4.00
  export const Incomplete: i32 = -21; // Block1 gap / no transfer -> 4.08
  export const TooLarge: i32 = -22; // does not fit the buffer -> 4.13 (+Size1)
  export const ETagMismatch: i32 = -23; // Block2 representation changed (§2.4)
  export const ObserveFull: i32 = -24; // no free observation entry
  export const PathTooLong: i32 = -25;
}

/** Highest option number the codec knows. */
const OPT_LAST: i32 = 60;
// Known options (§5.10 Table 4 without the proxy options, RFC 7641 §2, RFC
// 7959 §2.1/§4): per number
// max length (bits 0..10), min length 1 (bit 11), repeatable (bit 12),
// known (bit 15). 0 = unknown.
const K: u16 = 0x8000;
const R: u16 = 0x1000;
const M1: u16 = 0x800;
const OPT_TABLE = memory.data<u16>([
  0, K | R | 8, 0, K | M1 | 255, K | R | M1 | 8, K | 0, K | 3, K | 2, // 0..7
  K | R | 255, 0, 0, K | R | 255, K | 2, 0, K | 4, K | R | 255, // 8..15
  0, K | 2, 0, 0, K | R | 255, 0, 0, K | 3, // 16..23
  0, 0, 0, K | 3, K | 4, 0, 0, 0, // 24..31
  0, 0, 0, 0, 0, 0, 0, 0, // 32..39: Proxy-Uri (35), Proxy-Scheme (39) flag badOption: no proxy here
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 40..59
  K | 4, // 60
]);

// @ts-ignore: decorator
@inline function optInfo(num: i32): u32 {
  return num <= OPT_LAST ? <u32>load<u16>(OPT_TABLE + (<usize>num << 1)) : 0;
}

/** Is the option known and its length inside the defined range (§5.4.3)? */
export function coapOptionValid(num: i32, len: i32): bool {
  const info = optInfo(num);
  return (info & K) != 0 && len <= <i32>(info & 0x7ff) && len >= <i32>((info >> 11) & 1);
}

/** Length check for the getters: unknown options pass (the caller asked for them). */
function lengthOk(num: i32, len: i32): bool {
  return (optInfo(num) & K) == 0 || coapOptionValid(num, len);
}

/** Critical options are the odd numbers (§5.4.6). */
// @ts-ignore: decorator
@inline export function coapOptionCritical(num: i32): bool { return (num & 1) != 0; }

// Last decoded option (module state: single-threaded firmware).
let dNum: i32 = 0;
let dPtr: usize = 0;
let dLen: i32 = 0;

/** Reads an extended delta/length nibble (§3.1). -1 = nibble 15, -2 = truncated. */
function extNibble(n: i32, p: usize, end: usize): i32 {
  if (n < 13) return n;
  if (n == 15) return -1;
  if (n == 13) {
    if (p >= end) return -2;
    return 13 + <i32>load<u8>(p);
  }
  if (p + 1 >= end) return -2;
  return 269 + ((<i32>load<u8>(p) << 8) | <i32>load<u8>(p + 1));
}

/**
 * Decodes the option at p (prev = number of the previous option) into
 * dNum/dPtr/dLen; returns the position after it, 0 at the payload marker or
 * a negative CoapError. Never reads at or past end.
 */
function decodeOption(p: usize, end: usize, prev: i32): isize {
  const b = <i32>load<u8>(p);
  if (b == 0xff) return 0;
  const dn = b >> 4;
  const ln = b & 15;
  p++;
  const delta = extNibble(dn, p, end);
  if (delta == -1) return CoapError.OptionDelta15;
  if (delta == -2) return CoapError.Truncated;
  p += dn == 13 ? 1 : dn == 14 ? 2 : 0;
  const len = extNibble(ln, p, end);
  if (len == -1) return CoapError.OptionLength15;
  if (len == -2) return CoapError.Truncated;
  p += ln == 13 ? 1 : ln == 14 ? 2 : 0;
  if (<usize>len > end - p) return CoapError.Truncated;
  const num = prev + delta;
  if (num > 0xffff) return CoapError.OptionNumber;
  dNum = num;
  dPtr = p;
  dLen = len;
  return <isize>(p + <usize>len);
}

/** Byte comparison (tokens, paths: not secrets, so not constant-time). */
export function coapBytesEqual(a: usize, b: usize, n: i32): bool {
  for (let i = 0; i < n; i++) if (load<u8>(a + <usize>i) != load<u8>(b + <usize>i)) return false;
  return true;
}

/** Unsigned integer option value (§3.2 uint: big-endian, leading zeros allowed). */
export function coapReadUint(p: usize, len: i32): u32 {
  let v: u32 = 0;
  for (let i = 0; i < len; i++) v = (v << 8) | <u32>load<u8>(p + <usize>i);
  return v;
}

/**
 * Zero-copy view of one datagram. Fields are read-only for users; pointers
 * stay valid as long as the datagram bytes do.
 */
@unmanaged export class CoapMessage {
  buf: usize = 0;
  len: i32 = 0;
  type: i32 = 0;
  code: i32 = 0;
  mid: i32 = 0;
  tkl: i32 = 0;
  optStart: usize = 0;
  optEnd: usize = 0;
  payload: usize = 0;
  payloadLen: i32 = 0;
  /** First critical option that is unknown, of bad length or repeated (§5.4.1,
   *  §5.4.3, §5.4.5); 0 = none. Elective ones are simply ignored by the getters. */
  badOption: i32 = 0;

  get token(): usize { return this.buf + 4; }
  isRequest(): bool { return this.code > 0 && this.code < 32; }
  isResponse(): bool { return this.code >= 64; }

  /** First valid occurrence of option num: value in dPtr/dLen-like iterator; -1 if absent. */
  uintOption(num: i32): i64 {
    const it = changetype<CoapOptionIter>(ITER);
    it.begin(this);
    return it.nextOf(num) ? <i64>coapReadUint(it.value, it.length) : -1;
  }
  hasOption(num: i32): bool {
    const it = changetype<CoapOptionIter>(ITER);
    it.begin(this);
    return it.nextOf(num);
  }
  /** -1 when absent (RFC 7252 §5.10.3). */
  contentFormat(): i32 { return <i32>this.uintOption(CoapOption.CONTENT_FORMAT); }
  accept(): i32 { return <i32>this.uintOption(CoapOption.ACCEPT); }
  /** Max-Age, default 60 s when absent (§5.10.5). */
  maxAge(): i64 { const v = this.uintOption(CoapOption.MAX_AGE); return v < 0 ? 60 : v; }
  uriPort(): i32 { return <i32>this.uintOption(CoapOption.URI_PORT); }
  /** RFC 7641 §2: 24-bit sequence number / 0 register / 1 deregister; -1 absent. */
  observe(): i32 { return <i32>this.uintOption(CoapOption.OBSERVE); }
  /** Block option raw value (NUM << 4 | M << 3 | SZX), -1 absent (RFC 7959 §2.2). */
  block1(): i32 { return <i32>this.uintOption(CoapOption.BLOCK1); }
  block2(): i32 { return <i32>this.uintOption(CoapOption.BLOCK2); }
  size1(): i64 { return this.uintOption(CoapOption.SIZE1); }
  size2(): i64 { return this.uintOption(CoapOption.SIZE2); }
  ifNoneMatch(): bool { return this.hasOption(CoapOption.IF_NONE_MATCH); }
  /** Number of valid occurrences of a repeatable option (e.g. Uri-Path segments). */
  count(num: i32): i32 {
    const it = changetype<CoapOptionIter>(ITER);
    it.begin(this);
    let n = 0;
    while (it.nextOf(num)) n++;
    return n;
  }
}
export const COAP_MESSAGE_SIZE: i32 = offsetof<CoapMessage>();

/**
 * Option iterator over a parsed message (caller memory, COAP_OPTION_ITER_SIZE):
 *   it.begin(msg); while (it.next()) { it.number, it.value, it.length }
 *   it.begin(msg); while (it.nextOf(CoapOption.URI_PATH)) { segment }
 */
@unmanaged export class CoapOptionIter {
  pos: usize = 0;
  end: usize = 0;
  number: i32 = 0;
  value: usize = 0;
  length: i32 = 0;

  begin(msg: CoapMessage): void {
    this.pos = msg.optStart;
    this.end = msg.optEnd;
    this.number = 0;
  }
  /** Every option in order, unknown ones included. */
  next(): bool {
    if (this.pos >= this.end) return false;
    const r = decodeOption(this.pos, this.end, this.number);
    if (r <= 0) { this.pos = this.end; return false; } // cannot happen after coapParse
    this.pos = <usize>r;
    this.number = dNum;
    this.value = dPtr;
    this.length = dLen;
    return true;
  }
  /** Next occurrence of num with a valid length (options are sorted, so it stops early). */
  nextOf(num: i32): bool {
    while (this.pos < this.end) {
      const save = this.pos;
      const prev = this.number;
      if (!this.next()) return false;
      if (this.number > num) { this.pos = save; this.number = prev; return false; }
      if (this.number == num && lengthOk(num, this.length)) return true;
    }
    return false;
  }
}
export const COAP_OPTION_ITER_SIZE: i32 = offsetof<CoapOptionIter>();
const ITER = memory.data(offsetof<CoapOptionIter>(), 8);

/**
 * Parses [p, p+len) into msg. Returns 0 or a CoapError (message format
 * error). On error msg.type/mid/code are still set when the 4-byte header
 * was there (so a CON can be rejected with a RST, §4.2).
 */
export function coapParse(msg: CoapMessage, p: usize, len: i32): i32 {
  msg.buf = p;
  msg.len = len;
  msg.badOption = 0;
  msg.payload = 0;
  msg.payloadLen = 0;
  msg.tkl = 0;
  msg.optStart = msg.optEnd = p;
  if (len < 4) { msg.type = -1; return CoapError.Truncated; }
  const b0 = <i32>load<u8>(p);
  msg.type = (b0 >> 4) & 3;
  msg.code = <i32>load<u8>(p + 1);
  msg.mid = (<i32>load<u8>(p + 2) << 8) | <i32>load<u8>(p + 3);
  if (b0 >> 6 != 1) return CoapError.Version;
  const tkl = b0 & 15;
  if (tkl > 8) return CoapError.TokenLength;
  const cls = msg.code >> 5;
  if (msg.code == 0) {
    if (len != 4) return CoapError.EmptyWithData;
  } else if (cls == 1 || cls >= 6) {
    return CoapError.ReservedClass;
  }
  if (4 + tkl > len) return CoapError.Truncated;
  msg.tkl = tkl;
  const end = p + <usize>len;
  let q = p + 4 + <usize>tkl;
  msg.optStart = q;
  let prev = 0;
  let bad = 0;
  while (q < end) {
    const r = decodeOption(q, end, prev);
    if (r == 0) {
      // payload marker: a zero-length payload after it is a format error (§3)
      if (q + 1 == end) return CoapError.EmptyPayload;
      msg.optEnd = q;
      msg.payload = q + 1;
      msg.payloadLen = <i32>(end - q - 1);
      msg.badOption = bad;
      return 0;
    }
    if (r < 0) return <i32>r;
    const info = optInfo(dNum);
    if (bad == 0 && coapOptionCritical(dNum)
        && (!coapOptionValid(dNum, dLen) || (dNum == prev && q != msg.optStart && (info & R) == 0))) {
      bad = dNum;
    }
    prev = dNum;
    q = <usize>r;
  }
  msg.optEnd = end;
  msg.payload = end;
  msg.badOption = bad;
  return 0;
}

/**
 * Message builder over a caller buffer (COAP_WRITER_SIZE bytes of caller
 * memory). Errors are sticky: check finish() once at the end.
 *   w.begin(buf, cap, CoapType.CON, CoapCode.GET, mid, tokenPtr, tkl);
 *   w.option(CoapOption.URI_PATH, p, n); w.optionUint(CoapOption.CONTENT_FORMAT, 0);
 *   w.payload(p, n); const len = w.finish();
 */
@unmanaged export class CoapWriter {
  buf: usize = 0;
  cap: i32 = 0;
  pos: i32 = 0;
  last: i32 = 0; // last option number; 0x10000 once a payload is written
  err: i32 = 0;

  begin(buf: usize, cap: i32, type: i32, code: i32, mid: i32, token: usize, tkl: i32): void {
    this.buf = buf;
    this.cap = cap;
    this.last = 0;
    this.err = 0;
    this.pos = 4 + tkl;
    if (<u32>tkl > 8) { this.err = CoapError.BadArgument; return; }
    if (cap < 4 + tkl) { this.err = CoapError.NoSpace; return; }
    store<u8>(buf, <u8>(0x40 | ((type & 3) << 4) | tkl));
    store<u8>(buf + 1, <u8>code);
    store<u8>(buf + 2, <u8>(mid >> 8));
    store<u8>(buf + 3, <u8>mid);
    memory.copy(buf + 4, token, <usize>tkl);
  }

  /** Adds an option; numbers must be ascending (equal = repeated option). */
  option(num: i32, value: usize, len: i32): void {
    if (this.err) return;
    if (num < this.last || num > 0xffff) { this.err = CoapError.OptionOrder; return; }
    if (<u32>len > 0xffff) { this.err = CoapError.BadArgument; return; }
    const delta = num - this.last;
    const need = 1 + (delta >= 269 ? 2 : delta >= 13 ? 1 : 0) + (len >= 269 ? 2 : len >= 13 ? 1 : 0) + len;
    if (need > this.cap - this.pos) { this.err = CoapError.NoSpace; return; }
    let p = this.buf + <usize>this.pos;
    const h = p++;
    const dn = putExt(p, delta);
    p += extLen(delta);
    const ln = putExt(p, len);
    p += extLen(len);
    store<u8>(h, <u8>((dn << 4) | ln));
    memory.copy(p, value, <usize>len);
    this.pos += need;
    this.last = num;
  }

  /** Options encoded by a writer from an empty message (the last one numbered `last`), as they
   *  are; only first, after begin(). */
  encoded(p: usize, n: i32, last: i32): void {
    if (this.err) return;
    if (this.last != 0) { this.err = CoapError.OptionOrder; return; }
    if (n > this.cap - this.pos) { this.err = CoapError.NoSpace; return; }
    memory.copy(this.buf + <usize>this.pos, p, <usize>n);
    this.pos += n;
    this.last = last;
  }

  /** uint option in its shortest form (§3.2: 0 is the empty value). */
  optionUint(num: i32, v: u32): void {
    const n = v == 0 ? 0 : v < 0x100 ? 1 : v < 0x10000 ? 2 : v < 0x1000000 ? 3 : 4;
    const tmp = UINT_TMP;
    for (let i = 0; i < n; i++) store<u8>(tmp + <usize>i, <u8>(v >> (<u32>(n - 1 - i) << 3)));
    this.option(num, tmp, n);
  }

  /** Where the payload goes (after the 0xFF marker) and how much fits. */
  payloadPtr(): usize { return this.buf + <usize>this.pos + 1; }
  payloadRoom(): i32 { return this.err ? 0 : max(0, this.cap - this.pos - 1); }
  /** Commits n payload bytes already written at payloadPtr(). */
  commitPayload(n: i32): void {
    if (this.err || n <= 0) return;
    if (this.last == 0x10000) { this.err = CoapError.OptionOrder; return; }
    if (n > this.cap - this.pos - 1) { this.err = CoapError.NoSpace; return; }
    store<u8>(this.buf + <usize>this.pos, 0xff);
    this.pos += 1 + n;
    this.last = 0x10000;
  }
  payload(p: usize, n: i32): void {
    if (this.err || n <= 0) return;
    if (n > this.cap - this.pos - 1) { this.err = CoapError.NoSpace; return; }
    memory.copy(this.payloadPtr(), p, <usize>n);
    this.commitPayload(n);
  }
  /** Message length, or the first error. */
  finish(): i32 { return this.err ? this.err : this.pos; }
}
export const COAP_WRITER_SIZE: i32 = offsetof<CoapWriter>();
const UINT_TMP = memory.data(4);

// @ts-ignore: decorator
@inline function extLen(v: i32): usize { return v >= 269 ? 2 : v >= 13 ? 1 : 0; }

/** Writes the extended bytes of v (if any) at p; returns the nibble (§3.1). */
function putExt(p: usize, v: i32): i32 {
  if (v < 13) return v;
  if (v < 269) { store<u8>(p, <u8>(v - 13)); return 13; }
  const e = v - 269;
  store<u8>(p, <u8>(e >> 8));
  store<u8>(p + 1, <u8>e);
  return 14;
}

// Block option value helpers (RFC 7959 §2.2).
// @ts-ignore: decorator
@inline export function blockNum(v: i32): i32 { return v >>> 4; }
// @ts-ignore: decorator
@inline export function blockMore(v: i32): bool { return (v & 8) != 0; }
// @ts-ignore: decorator
@inline export function blockSzx(v: i32): i32 { return v & 7; }
// @ts-ignore: decorator
@inline export function blockSize(szx: i32): i32 { return 16 << szx; }
// @ts-ignore: decorator
@inline export function blockValue(num: i32, more: bool, szx: i32): i32 {
  return (num << 4) | (more ? 8 : 0) | szx;
}
