// Requests from the servers (LwM2M 1.1 Transport §6.4 mapping; Core §6.1
// bootstrap operations, §6.3 device management, §6.4 Observe): one CoAP
// request on one connection -> lwHandle with the connection's identity:
// Caller.Bootstrap on the Bootstrap-Server connection, the account's Short
// Server ID on a server connection. Nothing in the message chooses the
// caller (SEC-2). Large bodies go block-wise (RFC 7959): Block1 uploads are
// reassembled here, Block2 responses are cut from the full representation
// rebuilt for every block (ETag = CRC-32 of it, §2.4). Every error is a CoAP
// response code; nothing traps, nothing is half-applied (operations.ts checks
// a request completely before it changes anything).
import {
  CoapCode, CoapOption, CoapOptionIter, CoapError, COAP_OPTION_ITER_SIZE, blockNum, blockSize, blockSzx,
} from "../../coap/message";
import {
  CoapBlock1Rx, COAP_BLOCK1_RX_SIZE, block1Init, block1Receive, block1WriteOptions, block2Plan, block2Begin, block2Offset,
  coapErrorResponseCode, BLOCK1_CONTINUE, BLOCK1_COMPLETE,
} from "../../coap/block";
import { obsRegister, obsDeregister, obsNextSeq } from "../../coap/observe";
import { crc32 } from "../../util/crc32";
import { LwPath, pathAppendSegment, formatId } from "../formats/entry";
import { lwHandle, Caller, Method } from "../operations";
import { securityFind } from "../objects/security";
import { Cap } from "../../profile";
import { conn, connEp, connObs, Role, REPR, REPR_CAP, MAX_SZX } from "./conn";
import { bsActivity, bsFinish } from "./bootstrap";
import { reportStarted, reportEnded } from "./reporting";

const PATH = memory.data(8, 8);
const IT = memory.data(COAP_OPTION_ITER_SIZE, 8);
const QCAP: i32 = 128;
const QBUF = memory.data(128);
const TMP = memory.data(8, 8);

// Block1 uploads: one at a time for the whole client, owned by a connection and a request target.
export const UPLOAD_CAP: i32 = Cap.UPLOAD;
const UPLOAD = memory.data(UPLOAD_CAP, 8);
const B1 = memory.data(COAP_BLOCK1_RX_SIZE, 8);
let b1Owner: i32 = -1;
let b1Target: u64 = 0;

function b1(): CoapBlock1Rx { return changetype<CoapBlock1Rx>(B1); }

export function requestsInit(): void {
  block1Init(b1(), UPLOAD, UPLOAD_CAP, MAX_SZX);
  b1Owner = -1;
}

/** Forgets an upload of a connection that goes away. */
export function requestsConnGone(ci: i32): void {
  if (b1Owner == ci) { b1Owner = -1; b1().active = 0; }
}

function respond(ci: i32, code: i32, now: i64): void {
  const ep = connEp(ci);
  ep.beginResponse(code);
  ep.send(now);
}

/** Answers the request in the connection's ep.rx (CoapEvent.Request). */
export function handleRequest(ci: i32, now: i64): void {
  const c = conn(ci);
  const ep = connEp(ci);
  const m = ep.rx;
  const method = m.code;
  if (method < 1 || method > 4) { respond(ci, CoapCode.METHOD_NOT_ALLOWED, now); return; } // FETCH, PATCH, ...

  // Uri-Path -> LwPath ("bs" alone: Bootstrap-Finish)
  const p = changetype<LwPath>(PATH);
  p.clear();
  const it = changetype<CoapOptionIter>(IT);
  it.begin(m);
  let segs = 0;
  let bad = false;
  let bs = false;
  while (it.nextOf(CoapOption.URI_PATH)) {
    segs++;
    if (segs == 1 && it.length == 2 && load<u16>(it.value) == 0x7362) { bs = true; continue; } // "bs"
    if (bs || pathAppendSegment(p, it.value, it.length) != 0) bad = true;
  }
  if (bad) { respond(ci, CoapCode.NOT_FOUND, now); return; }

  let caller: i32;
  if (c.role == Role.Bootstrap) {
    // the account this connection belongs to must still exist (BS-4 may have purged it)
    if (securityFind(0) < 0) { respond(ci, CoapCode.UNAUTHORIZED, now); return; }
    bsActivity(ci, now);
    if (bs) {
      respond(ci, method == Method.POST ? bsFinish(ci, now) : CoapCode.METHOD_NOT_ALLOWED, now);
      return;
    }
    caller = Caller.Bootstrap;
  } else {
    if (bs) { respond(ci, CoapCode.NOT_FOUND, now); return; }
    caller = c.ssid;
  }

  // Uri-Query options joined by '&' (Write-Attributes)
  let qlen = 0;
  it.begin(m);
  while (it.nextOf(CoapOption.URI_QUERY)) {
    if (qlen + 1 + it.length > QCAP) { respond(ci, CoapCode.BAD_REQUEST, now); return; }
    if (qlen) store<u8>(QBUF + <usize>(qlen++), 0x26);
    memory.copy(QBUF + <usize>qlen, it.value, <usize>it.length);
    qlen += it.length;
  }

  // Bootstrap-Write bodies may carry keys (SEC-3): the block in the receive buffer is wiped
  // once it has been copied or used, on every path (continue, error, complete)
  const secretBody = caller == Caller.Bootstrap && m.payloadLen > 0;

  // Block1 upload (RFC 7959 §2.3)
  let payload = m.payload;
  let plen = m.payloadLen;
  let uploaded = false;
  if (m.block1() >= 0) {
    const target = load<u64>(PATH) ^ (<u64>method << 60) ^ (<u64>ci << 56);
    // a later block of an upload this connection / target did not start: 4.08 (§2.9.2), the other upload goes on
    const foreign = blockNum(m.block1()) > 0 && (b1Owner != ci || b1Target != target);
    const r = foreign ? CoapError.Incomplete : block1Receive(b1(), m);
    if (secretBody && r != BLOCK1_COMPLETE) memory.fill(m.payload, 0, <usize>m.payloadLen);
    if (r == BLOCK1_CONTINUE) {
      b1Owner = ci;
      b1Target = target;
      const w = ep.beginResponse(CoapCode.CONTINUE);
      block1WriteOptions(w, b1());
      ep.send(now);
      return;
    }
    if (r < 0) {
      const w = ep.beginResponse(coapErrorResponseCode(r));
      if (!foreign) {
        b1Owner = -1;
        block1WriteOptions(w, b1());
        memory.fill(UPLOAD, 0, <usize>UPLOAD_CAP);
      }
      ep.send(now);
      return;
    }
    if (r == BLOCK1_COMPLETE) {
      b1Owner = -1;
      payload = UPLOAD;
      plen = b1().len;
      uploaded = true;
    }
  }

  // Block2 (RFC 7959 §2.4) and Observe (RFC 7641 §2)
  const plan = method == Method.GET ? block2Plan(m, MAX_SZX) : MAX_SZX;
  if (plan < 0) { respond(ci, CoapCode.BAD_REQUEST, now); return; }
  const observe = method == Method.GET && c.role == Role.Server && blockNum(plan) == 0 ? m.observe() : -1;

  const res = lwHandle(caller, method, p, m.contentFormat(), m.accept(), QBUF, qlen, payload, plen, REPR, REPR_CAP);
  // Bootstrap-Write bodies may carry keys (SEC-3): no copy stays once the model has taken them
  if (uploaded) memory.fill(UPLOAD, 0, <usize>plen);
  if (secretBody) memory.fill(m.payload, 0, <usize>m.payloadLen);
  const code = res.code;
  const total = res.length;
  const fmt = res.format;
  const created = res.createdId;

  let k = -1;
  if (observe == 0 && code == CoapCode.CONTENT) {
    k = obsRegister(connObs(ci), m, fmt, now); // ObserveFull / PathTooLong: answered as a plain GET (§4.1)
    if (k >= 0) reportStarted(ci, k, p, now);
  } else if (observe == 1) {
    const j = obsDeregister(connObs(ci), m);
    if (j >= 0) reportEnded(ci, j);
  }

  const w = ep.beginResponse(code);
  const blockwise = total > blockSize(MAX_SZX) || (plan & 8) != 0;
  if (total > 0 && blockwise) { // ETag: the representation the blocks are cut from (§2.4)
    store<u32>(TMP, crc32(REPR, total));
    w.option(CoapOption.ETAG, TMP, 4);
  }
  if (k >= 0) w.optionUint(CoapOption.OBSERVE, <u32>obsNextSeq(connObs(ci), k));
  if (code == CoapCode.CREATED && created >= 0) { // Location-Path /oid/iid of the new instance
    w.option(CoapOption.LOCATION_PATH, TMP, formatId(TMP, <u32>p.oid));
    w.option(CoapOption.LOCATION_PATH, TMP, formatId(TMP, <u32>created));
  }
  if (total > 0) {
    w.optionUint(CoapOption.CONTENT_FORMAT, <u32>fmt);
    const n = block2Begin(w, plan, total);
    if (n < 0) { respond(ci, CoapCode.BAD_REQUEST, now); return; } // a block past the end
    w.payload(REPR + <usize>block2Offset, n);
  } else if (uploaded) {
    block1WriteOptions(w, b1());
  }
  if (ep.send(now) < 0) respond(ci, CoapCode.INTERNAL_SERVER_ERROR, now);
}
