// Test entry for assembly/coap: thin wrappers over the codec, the endpoint,
// block-wise and observe, plus a small demo server (resources /, /large,
// /upload, /obs, /sep) written against the same API the LwM2M layer uses;
// the JS harness owns the UDP socket and pumps the sans-I/O endpoint.
export { scratch, scratchSize } from "./_scratch";
// Lets the release-size build resolve --use abort=assembly/host/abi/onAbort.
import { ABI_VERSION } from "../host/abi";
import { crc32 } from "../util/crc32";
import { uriSplit, uriHost, uriHostLen, uriPort, uriPath, uriPathLen } from "../util/uri";
import {
  CoapMessage, CoapWriter, CoapOptionIter, coapParse, CoapCode, CoapType, CoapOption, CoapError,
  COAP_MESSAGE_SIZE, COAP_WRITER_SIZE, COAP_OPTION_ITER_SIZE,
} from "../coap/message";
import { CoapEndpoint, coapEndpointInit, coapEndpointSize, CoapEvent } from "../coap/endpoint";
import {
  CoapBlockClient, COAP_BLOCK_CLIENT_SIZE, blockClientStart, blockClientOnResponse,
  block2Plan, block2Write, CoapBlock1Rx, COAP_BLOCK1_RX_SIZE, block1Init, block1Receive,
  block1WriteOptions, coapErrorResponseCode, BLOCK1_NONE, BLOCK1_CONTINUE,
} from "../coap/block";
import {
  CoapObserveTable, coapObserveSize, obsInit, obsRegister, obsDeregister, obsBeginNotify,
  obsOnEvent, obsNextSeq, obsFind, obsActive, coapEncodePath, OBS_PATH_MAX,
} from "../coap/observe";

export function abiVersion(): i32 { return ABI_VERSION; }

const MSG = memory.data(COAP_MESSAGE_SIZE, 8);
const W = memory.data(COAP_WRITER_SIZE, 8);
const IT = memory.data(COAP_OPTION_ITER_SIZE, 8);
const EP_CAP: i32 = 40000;
const EP_AREA = memory.data(40000, 8);
let curMsg: usize = MSG;
let curW: usize = W;

function msg(): CoapMessage { return changetype<CoapMessage>(curMsg); }
function wr(): CoapWriter { return changetype<CoapWriter>(curW); }
function ep(): CoapEndpoint { return changetype<CoapEndpoint>(EP_AREA); }

// ---- codec -----------------------------------------------------------------
export function parse(p: usize, len: i32): i32 { curMsg = MSG; return coapParse(msg(), p, len); }
/** Later msg* calls read the endpoint's received message. */
export function selectRx(): void { curMsg = changetype<usize>(ep().rx); }
export function msgType(): i32 { return msg().type; }
export function msgCode(): i32 { return msg().code; }
export function msgMid(): i32 { return msg().mid; }
export function msgTkl(): i32 { return msg().tkl; }
export function msgToken(): usize { return msg().token; }
export function msgPayload(): usize { return msg().payload; }
export function msgPayloadLen(): i32 { return msg().payloadLen; }
export function msgBadOption(): i32 { return msg().badOption; }
export function msgUint(num: i32): i64 { return msg().uintOption(num); }
export function msgContentFormat(): i32 { return msg().contentFormat(); }
export function msgAccept(): i32 { return msg().accept(); }
export function msgMaxAge(): i64 { return msg().maxAge(); }
export function msgUriPort(): i32 { return msg().uriPort(); }
export function msgObserve(): i32 { return msg().observe(); }
export function msgBlock1(): i32 { return msg().block1(); }
export function msgBlock2(): i32 { return msg().block2(); }
export function msgSize1(): i64 { return msg().size1(); }
export function msgSize2(): i64 { return msg().size2(); }
export function msgIfNoneMatch(): bool { return msg().ifNoneMatch(); }
export function msgCount(num: i32): i32 { return msg().count(num); }

/** Every option as (u16 number, u16 length, value) little-endian; bytes or -1. */
export function msgOptions(out: usize, cap: i32): i32 {
  const it = changetype<CoapOptionIter>(IT);
  it.begin(msg());
  let n = 0;
  while (it.next()) {
    if (n + 4 + it.length > cap) return -1;
    store<u16>(out + <usize>n, <u16>it.number);
    store<u16>(out + <usize>n + 2, <u16>it.length);
    memory.copy(out + <usize>n + 4, it.value, <usize>it.length);
    n += 4 + it.length;
  }
  return n;
}

/** The valid occurrences of one option (nextOf), same layout as msgOptions. */
export function msgSegments(num: i32, out: usize, cap: i32): i32 {
  const it = changetype<CoapOptionIter>(IT);
  it.begin(msg());
  let n = 0;
  while (it.nextOf(num)) {
    if (n + 4 + it.length > cap) return -1;
    store<u16>(out + <usize>n, <u16>it.number);
    store<u16>(out + <usize>n + 2, <u16>it.length);
    memory.copy(out + <usize>n + 4, it.value, <usize>it.length);
    n += 4 + it.length;
  }
  return n;
}

// ---- writer (standalone, or the endpoint's after an ep* begin) ----------------
export function wBegin(buf: usize, cap: i32, type: i32, code: i32, mid: i32, tok: usize, tkl: i32): void {
  curW = W;
  wr().begin(buf, cap, type, code, mid, tok, tkl);
}
export function wOption(num: i32, p: usize, len: i32): void { wr().option(num, p, len); }
export function wUint(num: i32, v: u32): void { wr().optionUint(num, v); }
export function wPayload(p: usize, n: i32): void { wr().payload(p, n); }
export function wPayloadPtr(): usize { return wr().payloadPtr(); }
export function wPayloadRoom(): i32 { return wr().payloadRoom(); }
export function wCommit(n: i32): void { wr().commitPayload(n); }
export function wFinish(): i32 { return wr().finish(); }
export function wBuf(): usize { return wr().buf; }

// ---- endpoint ----------------------------------------------------------------
export function epSize(msgCap: i32, slots: i32, dedup: i32): i32 { return coapEndpointSize(msgCap, slots, dedup); }
export function epInit(msgCap: i32, slots: i32, dedup: i32): i32 {
  if (coapEndpointSize(msgCap, slots, dedup) > EP_CAP) return -100;
  return coapEndpointInit(EP_AREA, msgCap, slots, dedup);
}
export function epSetTransmission(ackTimeout: i32, factor: i32, maxRetransmit: i32): void {
  ep().setTransmission(ackTimeout, factor, maxRetransmit);
}
export function epSetTokenLen(n: i32): void { ep().tokenLen = n; }
export function epExchangeLifetime(): i32 { return ep().exchangeLifetime; }
export function epNonLifetime(): i32 { return ep().nonLifetime; }
export function epResponseTimeout(): i32 { return ep().responseTimeout; }
export function epHandle(p: usize, len: i32, now: i64): i32 { return ep().handleDatagram(p, len, now); }
export function epTimeout(now: i64): void { ep().handleTimeout(now); }
export function epPollTx(): i32 { return ep().pollTransmit(); }
export function epTxPtr(): usize { return ep().txPtr; }
export function epPollEvent(): i32 { return ep().pollEvent(); }
export function epEventSlot(): i32 { return ep().eventSlot; }
export function epEventMid(): i32 { return ep().eventMid; }
export function epDeadline(): i64 { return ep().nextDeadline(); }
export function epSlotToken(i: i32): usize { return ep().slotToken(i); }
export function epSlotTkl(i: i32): i32 { return ep().slotTkl(i); }
export function epSlotBusy(i: i32): bool { return ep().slotBusy(i); }
export function epCancel(i: i32): void { ep().cancel(i); }
export function epBeginRequest(type: i32, code: i32): i32 {
  const w = ep().beginRequest(type, code);
  curW = changetype<usize>(w);
  return w.err;
}
export function epBeginResponse(code: i32): i32 {
  const w = ep().beginResponse(code);
  curW = changetype<usize>(w);
  return w.err;
}
export function epAcceptSeparate(): i32 { return ep().acceptSeparate(); }
export function epBeginSeparate(type: i32, code: i32, tok: usize, tkl: i32, replace: i32): i32 {
  const w = ep().beginSeparate(type, code, tok, tkl, replace);
  curW = changetype<usize>(w);
  return w.err;
}
export function epSend(now: i64): i32 { return ep().send(now); }

// ---- block-wise ----------------------------------------------------------------
const BC = memory.data(COAP_BLOCK_CLIENT_SIZE, 8);
const TM = memory.data(COAP_MESSAGE_SIZE, 8);
const TI = memory.data(COAP_OPTION_ITER_SIZE, 8);
function bc(): CoapBlockClient { return changetype<CoapBlockClient>(BC); }
/** The block client with the options of the template message at tmpl (its header and token skipped). */
export function bcStart(type: i32, code: i32, tmpl: usize, tmplLen: i32, up: usize, upLen: i32,
    down: usize, downCap: i32, szx1: i32, szx2: i32, now: i64): i32 {
  const m = changetype<CoapMessage>(TM);
  if (coapParse(m, tmpl, tmplLen) != 0 || m.payloadLen != 0) return CoapError.BadArgument;
  const it = changetype<CoapOptionIter>(TI);
  it.begin(m);
  let last = 0;
  while (it.next()) last = it.number;
  const start = tmpl + 4 + <usize>(load<u8>(tmpl) & 15);
  return blockClientStart(bc(), ep(), type, code, start, <i32>(tmpl + <usize>tmplLen - start), last, up, upLen, down, downCap, szx1, szx2, now);
}
export function bcOnResponse(now: i64): i32 { return blockClientOnResponse(bc(), ep(), now); }
export function bcDownLen(): i32 { return bc().downLen; }
export function bcSlot(): i32 { return bc().slot; }

export function b2Plan(maxSzx: i32): i32 { return block2Plan(msg(), maxSzx); }
export function b2Write(plan: i32, src: usize, total: i32): i32 { return block2Write(wr(), plan, src, total); }
const B1 = memory.data(COAP_BLOCK1_RX_SIZE, 8);
function b1(): CoapBlock1Rx { return changetype<CoapBlock1Rx>(B1); }
export function b1Init(buf: usize, cap: i32, maxSzx: i32): void { block1Init(b1(), buf, cap, maxSzx); }
export function b1Receive(): i32 { return block1Receive(b1(), msg()); }
export function b1WriteOptions(): void { block1WriteOptions(wr(), b1()); }
export function b1Len(): i32 { return b1().len; }
export function errorCode(err: i32): i32 { return coapErrorResponseCode(err); }

// ---- observe --------------------------------------------------------------------
const OBS_N: i32 = 4;
const OBS = memory.data(1024, 8);
function obs(): CoapObserveTable { return changetype<CoapObserveTable>(OBS); }
export function obsSetup(alwaysCon: i32, conIntervalMs: i64): void {
  if (coapObserveSize(OBS_N) > 1024) unreachable();
  obsInit(obs(), OBS_N);
  obs().alwaysCon = alwaysCon;
  obs().conInterval = conIntervalMs;
}
export function obsReg(cf: i32, now: i64): i32 { return obsRegister(obs(), msg(), cf, now); }
export function obsDereg(): i32 { return obsDeregister(obs(), msg()); }
export function obsNotifyBegin(i: i32, code: i32, now: i64): i32 {
  const w = obsBeginNotify(obs(), ep(), i, code, now);
  curW = changetype<usize>(w);
  return w.err;
}
export function obsEvent(kind: i32, slot: i32, mid: i32, now: i64): i32 { return obsOnEvent(obs(), kind, slot, mid, now); }
export function obsIsActive(i: i32): bool { return obsActive(obs(), i); }
export function obsSeq(i: i32): i32 { return obsNextSeq(obs(), i); }
/** obsNextSeq n times; returns the last value (to reach the 24-bit wrap). */
export function obsSeqAdvance(i: i32, n: i32): i32 {
  let v = 0;
  for (let k = 0; k < n; k++) v = obsNextSeq(obs(), i);
  return v;
}

// ---- demo server ------------------------------------------------------------------
const LARGE_LEN: i32 = 3000;
const LARGE = memory.data(3000);
const UPLOAD_MAX: i32 = 16384;
const UPLOAD = memory.data(16384);
let uploadLen: i32 = 0;
let maxSzx: i32 = 6;
let notifyCount: i32 = 0;
const PATHBUF = memory.data(OBS_PATH_MAX);
const SEP_TOK = memory.data(8);
let sepTkl: i32 = -1;
let served: i32 = 0;

/** Byte i of the /large representation (the JS side computes the same). */
function largeByte(i: i32): u8 {
  return i % 64 == 63 ? 0x0a : <u8>(0x41 + (i * 7 + (i >> 6)) % 26);
}

export function demoInit(uploadCap: i32, blockSzx: i32): void {
  for (let i = 0; i < LARGE_LEN; i++) store<u8>(LARGE + <usize>i, largeByte(i));
  block1Init(b1(), UPLOAD, min(uploadCap, UPLOAD_MAX), blockSzx);
  maxSzx = blockSzx;
  uploadLen = 0;
  notifyCount = 0;
  sepTkl = -1;
  served = 0;
  obsSetup(0, 24 * 3600 * 1000);
}

function pathIs(n: i32, s: string): bool {
  // one segment: (len, bytes); "" = no Uri-Path at all
  if (s.length == 0) return n == 0;
  if (n != s.length + 1 || <i32>load<u8>(PATHBUF) != s.length) return false;
  for (let i = 0; i < s.length; i++) if (<i32>load<u8>(PATHBUF + 1 + <usize>i) != s.charCodeAt(i)) return false;
  return true;
}

function putText(w: CoapWriter, s: string, num: i32): void {
  const p = w.payloadPtr();
  let n = 0;
  const room = w.payloadRoom();
  for (let i = 0; i < s.length && n < room; i++) { store<u8>(p + <usize>n, <u8>s.charCodeAt(i)); n++; }
  if (num >= 0) {
    let d = 1;
    for (let t = num; t >= 10; t /= 10) d++;
    if (n + d <= room) {
      for (let k = d - 1, v = num; k >= 0; k--, v /= 10) store<u8>(p + <usize>(n + k), <u8>(0x30 + v % 10));
      n += d;
    }
  }
  w.commitPayload(n);
}

function respondCode(code: i32, now: i64): i32 {
  ep().beginResponse(code);
  return ep().send(now);
}

function serveBlock2(src: usize, total: i32, etag: bool, now: i64): i32 {
  const m = ep().rx;
  const plan = block2Plan(m, maxSzx);
  if (plan < 0) return respondCode(CoapCode.BAD_REQUEST, now);
  const w = ep().beginResponse(CoapCode.CONTENT);
  if (etag) {
    store<u32>(PATHBUF, crc32(src, total));
    w.option(CoapOption.ETAG, PATHBUF, 4);
  }
  w.optionUint(CoapOption.CONTENT_FORMAT, 0);
  if (block2Write(w, plan, src, total) != 0) return respondCode(CoapCode.BAD_REQUEST, now);
  return ep().send(now);
}

/** Answers the request in ep.rx (call after pollEvent() == Request). Returns send()'s result. */
export function demoServe(now: i64): i32 {
  const m = ep().rx;
  served++;
  const n = coapEncodePath(m, PATHBUF, OBS_PATH_MAX);
  if (n < 0) return respondCode(CoapCode.NOT_FOUND, now);
  const get = m.code == CoapCode.GET;
  if (pathIs(n, "")) {
    if (!get) return respondCode(CoapCode.METHOD_NOT_ALLOWED, now);
    const w = ep().beginResponse(CoapCode.CONTENT);
    w.optionUint(CoapOption.CONTENT_FORMAT, 0);
    putText(w, "lwm2m-wasm CoAP test server", -1);
    return ep().send(now);
  }
  if (pathIs(n, "large")) {
    if (!get) return respondCode(CoapCode.METHOD_NOT_ALLOWED, now);
    return serveBlock2(LARGE, LARGE_LEN, true, now);
  }
  if (pathIs(n, "upload")) {
    if (get) return serveBlock2(UPLOAD, uploadLen, true, now);
    if (m.code != CoapCode.PUT && m.code != CoapCode.POST) return respondCode(CoapCode.METHOD_NOT_ALLOWED, now);
    const r = block1Receive(b1(), m);
    let code = CoapCode.CHANGED;
    if (r == BLOCK1_NONE) {
      if (m.payloadLen > b1().cap) {
        b1().tooLarge = 1;
        code = CoapCode.REQUEST_ENTITY_TOO_LARGE;
      } else {
        memory.copy(UPLOAD, m.payload, <usize>m.payloadLen);
        uploadLen = m.payloadLen;
      }
    } else if (r == BLOCK1_CONTINUE) {
      code = CoapCode.CONTINUE;
    } else if (r > 0) {
      uploadLen = b1().len;
    } else {
      code = coapErrorResponseCode(r);
    }
    const w = ep().beginResponse(code);
    block1WriteOptions(w, b1());
    return ep().send(now);
  }
  if (pathIs(n, "obs")) {
    if (!get) return respondCode(CoapCode.METHOD_NOT_ALLOWED, now);
    const o = m.observe();
    let i = -1;
    if (o == 0) i = obsRegister(obs(), m, 0, now);
    else if (o == 1) obsDeregister(obs(), m);
    const w = ep().beginResponse(CoapCode.CONTENT);
    if (i >= 0) w.optionUint(CoapOption.OBSERVE, <u32>obsNextSeq(obs(), i));
    w.optionUint(CoapOption.CONTENT_FORMAT, 0);
    putText(w, "obs ", notifyCount);
    return ep().send(now);
  }
  if (pathIs(n, "sep")) {
    if (!get) return respondCode(CoapCode.METHOD_NOT_ALLOWED, now);
    const r = ep().acceptSeparate();
    if (r < 0) return r;
    sepTkl = m.tkl;
    memory.copy(SEP_TOK, m.token, <usize>m.tkl);
    return 0;
  }
  return respondCode(CoapCode.NOT_FOUND, now);
}

/** The separate response to the last GET /sep (CON). Slot or error. */
export function demoSeparate(now: i64): i32 {
  if (sepTkl < 0) return CoapError.NoRequest;
  const w = ep().beginSeparate(CoapType.CON, CoapCode.CONTENT, SEP_TOK, sepTkl, -1);
  w.optionUint(CoapOption.CONTENT_FORMAT, 0);
  putText(w, "separate", -1);
  sepTkl = -1;
  return ep().send(now);
}

/** A notification to every observer of /obs; returns how many went out, or the first error. */
export function demoNotify(now: i64): i32 {
  notifyCount++;
  PATHBUF_obs();
  let sent = 0;
  for (let i = obsFind(obs(), PATHBUF, 4, 0); i >= 0; i = obsFind(obs(), PATHBUF, 4, i + 1)) {
    const w = obsBeginNotify(obs(), ep(), i, CoapCode.CONTENT, now);
    w.optionUint(CoapOption.CONTENT_FORMAT, 0);
    putText(w, "obs ", notifyCount);
    const r = ep().send(now);
    if (r < 0) return r;
    sent++;
  }
  return sent;
}
function PATHBUF_obs(): void {
  store<u8>(PATHBUF, 3); store<u8>(PATHBUF + 1, 0x6f); store<u8>(PATHBUF + 2, 0x62); store<u8>(PATHBUF + 3, 0x73);
}

/** Feeds endpoint events to the observe table; returns the ended observation or -1. */
export function demoEvent(kind: i32, slot: i32, mid: i32, now: i64): i32 { return obsOnEvent(obs(), kind, slot, mid, now); }
export function demoUploadLen(): i32 { return uploadLen; }
export function demoUpload(): usize { return UPLOAD; }
export function demoLarge(): usize { return LARGE; }
export function demoServed(): i32 { return served; }
export function demoObsActive(i: i32): bool { return obsActive(obs(), i); }

// Event kinds for the JS side.
export function evRequest(): i32 { return CoapEvent.Request; }

// ---- URIs (RFC 7252 §6: util/uri.ts, the splitter of connOpen and the EST URI) ----------
/** uriSplit of [p, p+n): 1 split, 0 refused; at out (i32 each): host offset, host length,
 *  port, path offset, path length. */
export function uriSplitInto(p: usize, n: i32, bare: i32, out: usize): i32 {
  const ok = uriSplit(p, n, bare != 0);
  store<i32>(out, <i32>(uriHost - p));
  store<i32>(out, uriHostLen, 4);
  store<i32>(out, uriPort, 8);
  store<i32>(out, <i32>(uriPath - p), 12);
  store<i32>(out, uriPathLen, 16);
  return ok ? 1 : 0;
}
