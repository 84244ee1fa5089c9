// Block-wise transfers (RFC 7959) on top of the endpoint, both directions.
//
// Client (CoapBlockClient in caller memory): a request described by its
// options, encoded once (with CoapWriter; all below Block2), plus an optional
// body to upload with Block1 and an optional buffer to download into with
// Block2. blockClientStart() sends the first request; on every
// CoapEvent.Response for its slot call blockClientOnResponse():
//   1 (BLOCK_PENDING): the next block request went out, keep waiting
//   0 (BLOCK_DONE): final response in ep.rx, downloaded body in down[0..downLen)
//   < 0: CoapError (BadBlock, ETagMismatch, TooLarge, or from the endpoint)
//
// Server: block2Plan()/block2Begin()/block2Write() answer a request from a
// larger representation; CoapBlock1Rx reassembles a Block1 upload.
import {
  CoapMessage, CoapWriter, CoapOptionIter, CoapError, CoapCode, CoapOption,
  blockNum, blockMore, blockSzx, blockSize, blockValue, COAP_OPTION_ITER_SIZE,
} from "./message";
import { CoapEndpoint } from "./endpoint";

export const BLOCK_DONE: i32 = 0;
export const BLOCK_PENDING: i32 = 1;

const ST_UP: i32 = 1;
const ST_DOWN: i32 = 2;

@unmanaged export class CoapBlockClient {
  type: i32;
  code: i32;
  tmpl: usize;
  tmplLen: i32;
  tmplLast: i32;
  up: usize;
  upLen: i32;
  upOff: i32; // first byte of the block in flight
  upSent: i32; // bytes in the block in flight
  upSzx: i32; // -1: the body goes in one request
  down: usize;
  downCap: i32;
  /** Bytes of the response body received so far (the whole body once done). */
  downLen: i32;
  downSzx: i32; // -1: no early negotiation
  downNum: i32;
  etagLen: i32; // -1: none seen
  etag: u64;
  state: i32;
  restarted: i32;
  /** The endpoint slot of the request in flight. */
  slot: i32;
}
export const COAP_BLOCK_CLIENT_SIZE: i32 = offsetof<CoapBlockClient>();

// @ts-ignore: decorator (lazy: only a build that uses the block-wise client has it)
@lazy const IT = memory.data(COAP_OPTION_ITER_SIZE, 8);

/** Sends the next request of the transfer: the template's options, Block2/Block1/Size1, payload. */
function sendNext(c: CoapBlockClient, ep: CoapEndpoint, now: i64): i32 {
  const w = ep.beginRequest(c.type, c.code);
  w.encoded(c.tmpl, c.tmplLen, c.tmplLast); // all below Block2 (blockClientStart)
  let pay: usize = 0;
  let payLen = 0;
  if (c.state == ST_DOWN) {
    if (c.downNum > 0 || c.downSzx >= 0) w.optionUint(CoapOption.BLOCK2, <u32>blockValue(c.downNum, false, max(c.downSzx, 0)));
  } else {
    pay = c.up + <usize>c.upOff;
    payLen = c.upLen - c.upOff;
    const size = c.upSzx >= 0 ? blockSize(c.upSzx) : payLen;
    const more = payLen > size;
    // §2.5 / §3.3: the last request body block may ask for the response's block size
    if (!more && c.downSzx >= 0) w.optionUint(CoapOption.BLOCK2, <u32>blockValue(0, false, c.downSzx));
    if (c.upSzx >= 0) {
      if (more) payLen = size;
      w.optionUint(CoapOption.BLOCK1, <u32>blockValue(c.upOff >> (c.upSzx + 4), more, c.upSzx));
      if (c.upOff == 0) w.optionUint(CoapOption.SIZE1, <u32>c.upLen); // §4: Size1 announces the total size
    }
    c.upSent = payLen;
  }
  w.payload(pay, payLen);
  const s = ep.send(now);
  if (s < 0) return s;
  c.slot = s;
  return BLOCK_PENDING;
}

/**
 * Starts a request. tmpl/tmplLen: the request options, encoded (CoapWriter.option from an
 * empty message), tmplLast the number of the last one (0 none): all below Block2 (23), which
 * the block-wise options follow in every request of the transfer. up/upLen: body to send (Block1 with
 * blocks of 2^(szx1+4) bytes when it does not fit one block). down/downCap:
 * where the response body goes (0/0: leave it in ep.rx). szx2 >= 0 asks for
 * that block size from the first request on (§2.4 early negotiation).
 */
export function blockClientStart(c: CoapBlockClient, ep: CoapEndpoint, type: i32, code: i32,
    tmpl: usize, tmplLen: i32, tmplLast: i32, up: usize, upLen: i32, down: usize, downCap: i32,
    szx1: i32, szx2: i32, now: i64): i32 {
  if (<u32>tmplLast >= <u32>CoapOption.BLOCK2 || tmplLen < 0 || <u32>szx1 > 6 || szx2 > 6) return CoapError.BadArgument;
  c.type = type;
  c.code = code;
  c.tmpl = tmpl;
  c.tmplLen = tmplLen;
  c.tmplLast = tmplLast;
  c.up = up;
  c.upLen = upLen;
  c.upOff = 0;
  c.upSzx = upLen > blockSize(szx1) ? szx1 : -1;
  c.down = down;
  c.downCap = downCap;
  c.downLen = 0;
  c.downSzx = szx2 < 0 ? -1 : szx2;
  c.downNum = 0;
  c.etagLen = -1;
  c.restarted = 0;
  c.state = upLen > 0 ? ST_UP : ST_DOWN;
  return sendNext(c, ep, now);
}

/** First ETag of m into (etag, length); -1 when there is none. */
let etagVal: u64 = 0;
function readEtag(m: CoapMessage): i32 {
  const it = changetype<CoapOptionIter>(IT);
  it.begin(m);
  if (!it.nextOf(CoapOption.ETAG)) return -1;
  etagVal = 0;
  memory.copy(changetype<usize>(ETAG_TMP), it.value, <usize>it.length);
  etagVal = load<u64>(ETAG_TMP);
  return it.length;
}
// @ts-ignore: decorator
@lazy const ETAG_TMP = memory.data(8, 8);

/** Handles the response (ep.rx) to the request in c.slot. */
export function blockClientOnResponse(c: CoapBlockClient, ep: CoapEndpoint, now: i64): i32 {
  const m = ep.rx;
  if (c.state == ST_UP) {
    const b1 = m.block1();
    if (m.code == CoapCode.CONTINUE) { // §2.3: next block; the server may ask for a smaller size (§2.5)
      if (c.upSzx < 0 || b1 < 0) return CoapError.BadBlock;
      const szx = blockSzx(b1);
      if (szx > c.upSzx) return CoapError.BadBlock;
      // §2.5: the block just sent counts as transferred whole; a smaller size only
      // applies from the next one on, which may start at a block number above 1
      // (Figure 5: 0/1/128 answered with 0/1/32, the client goes on with 4/1/32)
      const next = c.upOff + c.upSent;
      if (next >= c.upLen || (next & (blockSize(szx) - 1)) != 0) return CoapError.BadBlock;
      c.upOff = next;
      c.upSzx = szx;
      return sendNext(c, ep, now);
    }
    if (m.code == CoapCode.REQUEST_ENTITY_TOO_LARGE && b1 >= 0 && c.upOff == 0 && !c.restarted
        && blockSzx(b1) < (c.upSzx < 0 ? 7 : c.upSzx)) {
      c.restarted = 1; // §2.9.3: start over with the size the server asks for
      c.upSzx = blockSzx(b1);
      return sendNext(c, ep, now);
    }
    c.state = ST_DOWN; // the final response; it may start a Block2 download (§3.3)
  }
  const b2 = m.block2();
  const pl = m.payloadLen;
  if (b2 < 0) {
    if (c.down) {
      if (pl > c.downCap) return CoapError.TooLarge;
      memory.copy(c.down, m.payload, <usize>pl);
      c.downLen = pl;
    }
    return BLOCK_DONE;
  }
  const szx = blockSzx(b2);
  const more = blockMore(b2);
  if (!c.down && !more && c.downLen == 0) return BLOCK_DONE; // one block, left in ep.rx
  if (szx == 7 || (blockNum(b2) << (szx + 4)) != c.downLen || (more && pl != blockSize(szx))) return CoapError.BadBlock;
  const el = readEtag(m);
  if (c.downLen == 0) {
    c.etagLen = el;
    c.etag = etagVal;
    if (m.size2() > <i64>c.downCap) return CoapError.TooLarge;
  } else if (el != c.etagLen || (el > 0 && etagVal != c.etag)) {
    return CoapError.ETagMismatch; // §2.4: the representation changed underneath
  }
  if (pl > c.downCap - c.downLen) return CoapError.TooLarge;
  memory.copy(c.down + <usize>c.downLen, m.payload, <usize>pl);
  c.downLen += pl;
  if (!more) return BLOCK_DONE;
  c.downSzx = szx;
  c.downNum = c.downLen >> (szx + 4);
  return sendNext(c, ep, now);
}

// ---- server side ------------------------------------------------------------

/**
 * The Block2 block to serve for request m, at most 2^(maxSzx+4) bytes: packed
 * as blockValue(num, requested, szx) where bit 3 says the request carried
 * Block2. CoapError.BadBlock (answer 4.00) for SZX 7 (§2.2).
 */
export function block2Plan(m: CoapMessage, maxSzx: i32): i32 {
  const v = m.block2();
  if (v < 0) return maxSzx;
  const szx = blockSzx(v);
  if (szx == 7) return CoapError.BadBlock;
  if (szx <= maxSzx) return (v & ~8) | 8;
  // a smaller block size than asked for: the same offset in our size (§2.4)
  return blockValue((blockNum(v) << (szx + 4)) >> (maxSzx + 4), true, maxSzx);
}

/** Offset in the representation of the block that block2Begin() planned. */
export let block2Offset: i32 = 0;

/**
 * Writes Block2 (+ Size2 on block 0) for a representation of `total` bytes
 * and returns how many payload bytes this block carries (at block2Offset);
 * the caller then writes them at w.payloadPtr() and commits them (the "fill
 * block N" form), or uses block2Write(). A representation that fits one
 * block, unasked, gets no Block2. CoapError.BadBlock (4.00) past the end.
 * Options above 23 must not have been written yet.
 */
export function block2Begin(w: CoapWriter, plan: i32, total: i32): i32 {
  const szx = blockSzx(plan);
  const size = blockSize(szx);
  block2Offset = 0;
  if (!(plan & 8) && total <= size) return total;
  const off = <i64>blockNum(plan) << (szx + 4);
  if (off >= <i64>total && off > 0) return CoapError.BadBlock;
  const n = <i32>min(<i64>size, <i64>total - off);
  w.optionUint(CoapOption.BLOCK2, <u32>blockValue(blockNum(plan), off + <i64>n < <i64>total, szx));
  if (off == 0) w.optionUint(CoapOption.SIZE2, <u32>total);
  block2Offset = <i32>off;
  return n;
}

/** block2Begin() and the payload copied from the whole representation at src. */
export function block2Write(w: CoapWriter, plan: i32, src: usize, total: i32): i32 {
  const n = block2Begin(w, plan, total);
  if (n < 0) return n;
  w.payload(src + <usize>block2Offset, n);
  return w.err;
}

export const BLOCK1_NONE: i32 = 0; // no Block1: the whole body is in the request
export const BLOCK1_CONTINUE: i32 = 1; // answer 2.31 Continue with block1WriteOptions()
export const BLOCK1_COMPLETE: i32 = 2; // body in buf[0..len): answer the request (with block1WriteOptions())

/** Block1 reassembly into a caller buffer (one upload at a time). */
@unmanaged export class CoapBlock1Rx {
  buf: usize;
  cap: i32;
  len: i32;
  maxSzx: i32;
  active: i32;
  resp: i32; // Block1 value for the response, -1 none
  tooLarge: i32;
}
export const COAP_BLOCK1_RX_SIZE: i32 = offsetof<CoapBlock1Rx>();

export function block1Init(r: CoapBlock1Rx, buf: usize, cap: i32, maxSzx: i32): void {
  r.buf = buf;
  r.cap = cap;
  r.len = 0;
  r.maxSzx = maxSzx;
  r.active = 0;
  r.resp = -1;
  r.tooLarge = 0;
}

/**
 * Takes the Block1 block of request m. Returns BLOCK1_NONE / _CONTINUE /
 * _COMPLETE, or BadBlock (4.00), Incomplete (4.08: a gap or no transfer,
 * §2.9.2), TooLarge (4.13 with Size1, §2.9.3); an error ends the transfer.
 */
export function block1Receive(r: CoapBlock1Rx, m: CoapMessage): i32 {
  r.resp = -1;
  r.tooLarge = 0;
  const v = m.block1();
  if (v < 0) return BLOCK1_NONE;
  const szx = blockSzx(v);
  const num = blockNum(v);
  const more = blockMore(v);
  const pl = m.payloadLen;
  const off = num << (szx + 4);
  let err = 0;
  if (szx == 7 || (more && pl != blockSize(szx))) err = CoapError.BadBlock;
  else if (num == 0) {
    r.active = 1;
    r.len = 0;
    if (m.size1() > <i64>r.cap) err = CoapError.TooLarge;
  } else if (!r.active || off > r.len) err = CoapError.Incomplete;
  const keep = pl;
  // §2.5: a block larger than we like is taken whole; the 2.31 asks for our size
  // from the next block on, which the client numbers in that size (Figure 5)
  const rszx = more && szx > r.maxSzx ? r.maxSzx : szx;
  if (!err && keep > r.cap - off) err = CoapError.TooLarge;
  if (err) {
    r.active = 0;
    r.tooLarge = err == CoapError.TooLarge ? 1 : 0;
    return err;
  }
  memory.copy(r.buf + <usize>off, m.payload, <usize>keep);
  r.len = off + keep;
  if (more) {
    r.resp = blockValue(off >> (rszx + 4), true, rszx);
    return BLOCK1_CONTINUE;
  }
  r.active = 0;
  r.resp = blockValue(num, false, szx);
  return BLOCK1_COMPLETE;
}

/** Block1 (27) echo and, after TooLarge, Size1 (60) = our capacity. */
export function block1WriteOptions(w: CoapWriter, r: CoapBlock1Rx): void {
  if (r.resp >= 0) w.optionUint(CoapOption.BLOCK1, <u32>r.resp);
  if (r.tooLarge) w.optionUint(CoapOption.SIZE1, <u32>r.cap);
}

/** Response code for a CoAP-layer error of a request (4.00 / 4.08 / 4.13 / 5.00). */
export function coapErrorResponseCode(err: i32): i32 {
  if (err == CoapError.Incomplete) return CoapCode.REQUEST_ENTITY_INCOMPLETE;
  if (err == CoapError.TooLarge) return CoapCode.REQUEST_ENTITY_TOO_LARGE;
  if (err == CoapError.BadBlock || err == CoapError.PathTooLong) return CoapCode.BAD_REQUEST;
  return CoapCode.INTERNAL_SERVER_ERROR;
}
