// EST-coaps client (RFC 9148 over RFC 7030), sans-I/O over one CoAP endpoint
// (assembly/coap): the caller owns the endpoint (and the DTLS connection under
// it), feeds it datagrams and time, and hands the EST client the events of
// slot 0. One operation at a time:
//
//   estInit(work, path, pathLen, ep, name, nameLen)      once; work = EST_WORK_SIZE bytes
//   estStart(op, slot, wallNow, now)                     Crts / Att / Sen / Sren / Skg
//   on CoapEvent.Response for slot 0: estOnResponse(now)  -> EST_PENDING, 0 (done) or EstError
//   on CoapEvent.Timeout / Reset:     estOnTransportError(code)
//   at estDeadline():                 estTimer(now)       (5.03 Max-Age wait, RFC 9148 §5)
//
// Block1 uploads and Block2 downloads (RFC 7959, EST-5) go through the
// block-wise client; responses are limited to EST_RESPONSE_CAP bytes. What
// comes back is checked before it is offered to the caller (issue 8 step 6):
// the certificate carries our public key, parses, is valid now (when the wall
// clock is known) and chains to an anchor from /crts.
import { CoapEndpoint } from "../coap/endpoint";
import { CoapBlockClient, COAP_BLOCK_CLIENT_SIZE, blockClientStart, blockClientOnResponse, BLOCK_DONE } from "../coap/block";
import { CoapWriter, CoapType, CoapCode, CoapOption, CoapError, COAP_WRITER_SIZE } from "../coap/message";
import { Cert, CERT_SIZE, x509Parse } from "../x509/cert";
import { X509_WORK_SIZE, x509VerifyChain, VerifyFlag, listPtr, listLen } from "../x509/verify";
import { bytesEqual } from "../asn1/der";
import { se_import_p256, se_destroy, HostStatus } from "../host/abi";
import { generateKeyPair } from "../se/keys";
import {
  EstError, EstFormat, EST_MAX_CERTS, estReadPkcs7, estCerts, estReadCsrAttrs, estAttFlags,
  estReadMultipart, estPartKey, estPartKeyLen, estPartCert, estPartCertLen, estPartCertFormat, estReadPkcs8,
  estReadLinks, EST_LINK_SLOT, EST_LINK_TABLE, EST_OP_NAMES, EST_OP_INDEX,
} from "./codec";
import { estWriteCsr, EST_MAX_CN } from "./csr";

export namespace EstOp {
  export const Crts: i32 = 1; // GET /crts (RFC 9148 §5, RFC 7030 §4.1)
  export const Sen: i32 = 2; // POST /sen (§4.2.1)
  export const Sren: i32 = 3; // POST /sren (§4.2.2): over DTLS with the current certificate
  export const Skg: i32 = 4; // POST /skg (§4.4): server-side key generation
  export const Att: i32 = 5; // GET /att (§4.5)
  /** GET /.well-known/core?rt=ace.est* (RFC 9148 §4.1): the paths of the operations above, used
   *  by the next operations (until estInit) where the server lists one, else the EST path. */
  export const Discover: i32 = 6;
}

export const EST_PENDING: i32 = 1;
/** The stated limit of one EST response body (bytes): a larger one is refused
 *  (Size2 first, else at the block that would pass it), nothing written beyond.
 *  The trust anchors /crts returned stay at the start of this buffer (at most
 *  EST_CA_CAP bytes), so the answers after /crts get EST_RESPONSE_CAP less those. */
export const EST_RESPONSE_CAP: i32 = 2048;
export const EST_CA_CAP: i32 = 1024;
/** 5.03 Service Unavailable answers waited out per operation (RFC 9148 §5: Max-Age). */
export const EST_MAX_RETRIES: i32 = 3;
/** Longest single 5.03 wait honoured (s); a longer Max-Age is cut to this. */
export const EST_MAX_WAIT_S: i64 = 600;

const CSR_CAP: i32 = 400;
const TMPL_CAP: i32 = 96;
const PATH_CAP: i32 = 64;
// work layout
const W_BLOCK: i32 = 0;
const W_TMPL: i32 = 96;
const W_WRITER: i32 = W_TMPL + TMPL_CAP;
const W_PUB: i32 = W_WRITER + 32;
const W_NAME: i32 = W_PUB + 72;
const W_PATH: i32 = W_NAME + EST_MAX_CN;
const W_CALIST: i32 = W_PATH + PATH_CAP;
const W_CSR: i32 = W_CALIST + EST_MAX_CERTS * 8;
const W_CERT: i32 = W_CSR + CSR_CAP;
const W_X509: i32 = W_CERT + ((CERT_SIZE + 7) & ~7);
const W_CHAIN: i32 = W_X509 + X509_WORK_SIZE;
const W_ONE: i32 = W_CHAIN + EST_MAX_CERTS * 8;
const W_LINKS: i32 = W_ONE + 8;
const W_RESP: i32 = W_LINKS + ((EST_LINK_TABLE + 7) & ~7);
/** Bytes of caller memory for the EST client (8-byte aligned). */
export const EST_WORK_SIZE: i32 = W_RESP + EST_RESPONSE_CAP;

let W: usize = 0;
let ep: CoapEndpoint = changetype<CoapEndpoint>(0);
let pathLen: i32 = 0;
let nameLen: i32 = 0;
let op: i32 = 0;
let keySlot: i32 = -1;
let wallNow: i64 = -1;
let retries: i32 = 0;
let retryAt: i64 = -1;
let csrLen: i32 = 0;
let caLen: i32 = 0;
let caCount: i32 = 0;
/** Block1 / Block2 sizes as SZX (RFC 7959 §2.2: 16 << szx); Block2 -1 = the server's choice. */
export let estSzx1: i32 = 6;
export let estSzx2: i32 = -1;
/** Content-Format of the CSR uploads (RFC 9148 §5: 286); changed only by interop tests. */
export let estRequestFormat: i32 = EstFormat.Pkcs10;
/** Accept for /sen, /sren: 281 (PKCS#7) or 287 (one certificate). */
export let estAccept: i32 = EstFormat.Pkcs7CertsOnly;
/** The last response code (class << 5 | detail), -1 none; and a detail code (X509Error, CoapError). */
export let estLastCode: i32 = -1;
export let estLastDetail: i32 = 0;
/** 5.03 answers seen in the current operation. */
export let estRetries: i32 = 0;
/** The issued certificate (after a successful Sen/Sren/Skg): inside the work area. */
export let estCert: usize = 0;
export let estCertLen: i32 = 0;
/** CsrAttrs honoured for the next CSR (estReadCsrAttrs). */
export let estCsrFlags: i32 = 0;
/** EST resources /.well-known/core listed (EstOp.Discover). */
export let estDiscovered: i32 = 0;

// @ts-ignore: decorator
@lazy const WELL_KNOWN_CORE = memory.data<u8>([0x2e, 0x77, 0x65, 0x6c, 0x6c, 0x2d, 0x6b, 0x6e, 0x6f, 0x77, 0x6e, 0x2f, 0x63, 0x6f, 0x72, 0x65]); // ".well-known/core"
// @ts-ignore: decorator
@lazy const RT_EST = memory.data<u8>([0x72, 0x74, 0x3d, 0x61, 0x63, 0x65, 0x2e, 0x65, 0x73, 0x74, 0x2a]); // "rt=ace.est*" (RFC 6690 §4.1: a prefix)

function blk(): CoapBlockClient { return changetype<CoapBlockClient>(W + W_BLOCK); }

export function estInit(work: usize, path: usize, pLen: i32, endpoint: CoapEndpoint, name: usize, nLen: i32): i32 {
  if (COAP_BLOCK_CLIENT_SIZE > 96 || COAP_WRITER_SIZE > 32) unreachable();
  if (pLen < 0 || pLen > PATH_CAP || nLen <= 0 || nLen > EST_MAX_CN) return EstError.Csr;
  W = work;
  memory.fill(W, 0, <usize>EST_WORK_SIZE);
  memory.copy(W + W_PATH, path, <usize>pLen);
  memory.copy(W + W_NAME, name, <usize>nLen);
  pathLen = pLen;
  nameLen = nLen;
  ep = endpoint;
  op = 0;
  caLen = caCount = 0;
  estCsrFlags = 0;
  estDiscovered = 0;
  return 0;
}

/** The public key of the credential being enrolled (65 bytes, after Sen/Sren/Skg). */
export function estPublicKey(): usize { return W + W_PUB; }
/** Trust anchors from /crts: (pointer, length) pairs, estCaCount() of them. */
export function estCaList(): usize { return W + W_CALIST; }
export function estCaCount(): i32 { return caCount; }
export function estBusy(): bool { return op != 0; }

/** Uri-Path options, one per '/'-separated segment of [path, path + n). */
function segments(w: CoapWriter, path: usize, n: i32): void {
  let s = 0;
  for (let i = 0; i <= n; i++) {
    if (i == n || load<u8>(path + <usize>i) == 0x2f) {
      if (i > s) w.option(CoapOption.URI_PATH, path + <usize>s, i - s);
      s = i + 1;
    }
  }
}

/** The operation sends a CSR (POST with Content-Format 286; Sen, Sren, Skg); the others are GETs. */
// @ts-ignore: decorator
@inline function uploads(): bool { return <u32>(op - EstOp.Sen) <= <u32>(EstOp.Skg - EstOp.Sen); }

/** Accept by operation 1..6 (RFC 9148 §5; 0: estAccept, 281 or 287). */
// @ts-ignore: decorator
@lazy const ACCEPT = memory.data<u16>([281, 0, 0, 62, 285, 40]); // EstFormat: Pkcs7CertsOnly, -, -, MultipartCore, CsrAttrs, LinkFormat

/** Request options: Uri-Path (discovery: /.well-known/core; else the discovered path, or the
 *  EST path's segments and the operation), Content-Format, Uri-Query (discovery), Accept. */
function template(): i32 {
  const w = changetype<CoapWriter>(W + W_WRITER);
  w.begin(W + W_TMPL, TMPL_CAP, CoapType.CON, CoapCode.GET, 0, 0, 0);
  if (op == EstOp.Discover) {
    segments(w, WELL_KNOWN_CORE, 16);
    w.option(CoapOption.URI_QUERY, RT_EST, 11);
  } else {
    const k = <usize>((op - 1) << 1);
    const found = W + W_LINKS + <usize>((op - 1) * EST_LINK_SLOT);
    if (load<u8>(found) != 0) segments(w, found + 1, <i32>load<u8>(found));
    else {
      segments(w, W + W_PATH, pathLen);
      // RFC 9148 §5 short names: op 1..5 at (offset, length) in EST_OP_NAMES
      w.option(CoapOption.URI_PATH, EST_OP_NAMES + <usize>load<u8>(EST_OP_INDEX + k), <i32>load<u8>(EST_OP_INDEX + k + 1));
    }
    if (uploads()) w.optionUint(CoapOption.CONTENT_FORMAT, <u32>estRequestFormat);
  }
  const accept = <i32>load<u16>(ACCEPT + <usize>((op - 1) << 1));
  w.optionUint(CoapOption.ACCEPT, <u32>(accept ? accept : estAccept));
  return w.finish();
}

function fail(e: i32): i32 {
  if (op == EstOp.Skg) memory.fill(W + W_RESP + <usize>caLen, 0, <usize>(EST_RESPONSE_CAP - caLen)); // no key bytes left behind
  if (uploads() && keySlot >= 0) se_destroy(keySlot); // the new slot only
  op = 0;
  retryAt = -1;
  return e;
}

function send(now: i64): i32 {
  const t = template();
  if (t < 0) return fail(EstError.Transport);
  const up = uploads() ? W + W_CSR : 0;
  const r = blockClientStart(blk(), ep, CoapType.CON, up ? CoapCode.POST : CoapCode.GET,
    W + W_TMPL + 4, t - 4, changetype<CoapWriter>(W + W_WRITER).last, up, up ? csrLen : 0, W + W_RESP + <usize>caLen, EST_RESPONSE_CAP - caLen, estSzx1, estSzx2, now);
  if (r < 0) { estLastDetail = r; return fail(EstError.Transport); }
  return EST_PENDING;
}

/**
 * Starts an operation. For Sen/Sren/Skg `slot` is the SE slot the new key goes
 * to (a fresh pair is generated there for Sen/Sren; Skg imports the server's
 * key into it); it must not be the slot of the credential in use (renewal
 * keeps the old slot until the new credential is committed). wall: Unix
 * seconds or -1 when unknown. EST_PENDING or an error.
 */
export function estStart(operation: i32, slot: i32, wall: i64, now: i64): i32 {
  if (op != 0) return EstError.Busy;
  if (operation < EstOp.Crts || operation > EstOp.Discover) return EstError.Malformed;
  op = operation;
  keySlot = -1;
  wallNow = wall;
  retries = 0;
  estRetries = 0;
  retryAt = -1;
  estLastCode = -1;
  estLastDetail = 0;
  estCert = 0;
  estCertLen = 0;
  if (op == EstOp.Crts) caLen = caCount = 0; // new anchors replace the old ones
  if (uploads()) {
    keySlot = slot;
    // RFC 7030 §4.4.1.1: /skg still carries a CSR (the server ignores its key); ours is signed by a fresh pair too
    const g = generateKeyPair(slot, W + W_PUB);
    if (g != HostStatus.Ok) { estLastDetail = g; keySlot = -1; return fail(EstError.Se); }
    const n = estWriteCsr(W + W_CSR, CSR_CAP, W + W_NAME, nameLen, W + W_PUB, slot, estCsrFlags);
    if (n < 0) { estLastDetail = n; return fail(EstError.Csr); }
    csrLen = n;
  }
  return send(now);
}

/** The wall clock (Unix s, -1 unknown) for the checks of the answer: the caller feeds the current time
 *  before estOnResponse / estTimer (an answer may come long after estStart, e.g. after retransmissions). */
export function estSetWall(wall: i64): void { wallNow = wall; }

/** The CSR of the operation in progress (for tests and logs; public data). */
export function estCsr(): usize { return W + W_CSR; }
export function estCsrLen(): i32 { return csrLen; }

/** Next time (ms) the client needs estTimer(): a 5.03 retry; -1 none. */
export function estDeadline(): i64 { return op != 0 ? retryAt : -1; }

export function estTimer(now: i64): i32 {
  if (op == 0 || retryAt < 0 || now < retryAt) return op != 0 ? EST_PENDING : 0;
  retryAt = -1;
  return send(now);
}

/** CoAP gave up (Timeout) or the server reset the request. */
export function estOnTransportError(code: i32): i32 {
  if (op == 0) return 0;
  estLastDetail = code;
  return fail(EstError.Transport);
}

/** Finds, among the certificates in `list`, the one with our public key; checks
 *  validity and the chain to a /crts anchor. 0 (estCert set) or an error. */
function acceptIssued(list: usize, count: i32): i32 {
  const c = changetype<Cert>(W + W_CERT);
  let leaf = -1;
  for (let i = 0; i < count; i++) {
    const r = x509Parse(listPtr(list, i), listLen(list, i), c);
    if (r < 0) { estLastDetail = r; return EstError.Malformed; }
    // issue 8 step 6: a server must not be able to hand us someone else's certificate
    if (bytesEqual(c.pub, W + W_PUB, 65)) { leaf = i; break; }
  }
  if (leaf < 0) return EstError.CertKeyMismatch;
  if (caCount == 0) return EstError.ChainUntrusted; // no /crts anchors: nothing to check the issuer against
  // the path: the leaf first, then the other certificates the server sent
  // (count <= EST_MAX_CERTS: estReadPkcs7's limit)
  const chain = W + W_CHAIN;
  const at = <usize>(leaf << 3);
  store<u64>(chain, load<u64>(list + at));
  memory.copy(chain + 8, list, at);
  memory.copy(chain + 8 + at, list + at + 8, <usize>((count - leaf - 1) << 3));
  const n = count;
  const flags = VerifyFlag.CLIENT_AUTH | (wallNow < 0 ? VerifyFlag.ALLOW_TIME_LOWER_BOUND : 0);
  let r: i32 = 0;
  for (let a = 0; a < caCount; a++) {
    const ca = W + W_CALIST + <usize>(a << 3);
    r = x509VerifyChain(chain, n, listPtr(ca, 0), listLen(ca, 0), wallNow, flags, W + W_X509);
    if (r >= 0) break;
  }
  if (r < 0) {
    estLastDetail = r;
    return (r == -110 || r == -111) ? EstError.CertExpired : EstError.ChainUntrusted; // X509Error.Expired / NotYetValid
  }
  estCert = listPtr(list, leaf);
  estCertLen = listLen(list, leaf);
  return 0;
}

/** The certificate part of an enrolment response (281 or 287) at [p, p+len). */
function readIssued(p: usize, len: i32, cf: i32): i32 {
  if (cf == EstFormat.PkixCert) {
    const one = W + W_ONE;
    store<u32>(one, <u32>p); store<i32>(one, len, 4);
    return acceptIssued(one, 1);
  }
  const n = estReadPkcs7(p, len);
  if (n < 0) return n;
  return acceptIssued(estCerts, n);
}

/** The response to our request is in ep.rx (CoapEvent.Response for slot 0). */
export function estOnResponse(now: i64): i32 {
  if (op == 0) return 0;
  const b = blk();
  const r = blockClientOnResponse(b, ep, now);
  const m = ep.rx;
  estLastCode = m.code;
  if (r < 0) {
    estLastDetail = r;
    return fail(r == CoapError.TooLarge ? EstError.TooLarge : r == CoapError.ETagMismatch ? EstError.BlockETag : EstError.Transport);
  }
  if (r != BLOCK_DONE) return EST_PENDING;
  if (m.code == CoapCode.SERVICE_UNAVAILABLE) { // RFC 9148 §5: retry after Max-Age
    if (retries >= EST_MAX_RETRIES) return fail(EstError.GaveUp);
    retries++;
    estRetries = retries;
    let wait = m.maxAge();
    if (wait > EST_MAX_WAIT_S) wait = EST_MAX_WAIT_S;
    retryAt = now + wait * 1000;
    return EST_PENDING;
  }
  if ((m.code >> 5) != 2) return fail(EstError.ServerError);
  const cf = m.contentFormat();
  const body = W + W_RESP + <usize>caLen;
  const len = b.downLen;
  let res: i32 = 0;
  if (op == EstOp.Discover) {
    if (cf != EstFormat.LinkFormat) return fail(EstError.ContentFormat);
    res = estReadLinks(body, len, W + W_LINKS);
    if (res < 0) return fail(res);
    estDiscovered = res;
  } else if (op == EstOp.Crts) {
    if (cf != EstFormat.Pkcs7CertsOnly) return fail(EstError.ContentFormat);
    const n = estReadPkcs7(body, len);
    if (n < 0) return fail(n);
    // the anchors are kept at the start of the response buffer, one after the other (each moves
    // down over the PKCS#7 framing before it, in order: memory.copy moves overlapping bytes)
    let used = 0;
    for (let i = 0; i < n; i++) {
      const l = listLen(estCerts, i);
      if (used + l > EST_CA_CAP) return fail(EstError.TooLarge);
      const c = changetype<Cert>(W + W_CERT);
      const pr = x509Parse(listPtr(estCerts, i), l, c);
      if (pr < 0) { estLastDetail = pr; return fail(EstError.Malformed); }
      memory.copy(body + <usize>used, listPtr(estCerts, i), <usize>l);
      const e = W + W_CALIST + <usize>(i << 3);
      store<u32>(e, <u32>(body + <usize>used)); store<i32>(e, l, 4);
      used += l;
    }
    caLen = used;
    caCount = n;
  } else if (op == EstOp.Att) {
    if (len == 0) estCsrFlags = 0; // no attributes (RFC 9148 §5)
    else {
      if (cf != EstFormat.CsrAttrs) return fail(EstError.ContentFormat);
      res = estReadCsrAttrs(body, len);
      if (res < 0) return fail(res);
      estCsrFlags = estAttFlags;
    }
  } else if (op == EstOp.Skg) {
    if (cf != EstFormat.MultipartCore) return fail(EstError.ContentFormat);
    res = estReadMultipart(body, len);
    if (res < 0) return fail(res);
    const off = estReadPkcs8(estPartKey, estPartKeyLen);
    if (off < 0) return fail(off);
    const st = se_import_p256(keySlot, estPartKey + <usize>off, 32, W + W_PUB);
    memory.fill(estPartKey, 0, <usize>estPartKeyLen); // the key lives in the SE only from here on
    if (st != HostStatus.Ok) { estLastDetail = st; return fail(EstError.Se); }
    res = readIssued(estPartCert, estPartCertLen, estPartCertFormat);
    if (res < 0) return fail(res);
  } else {
    if (cf != EstFormat.Pkcs7CertsOnly && cf != EstFormat.PkixCert) return fail(EstError.ContentFormat);
    res = readIssued(body, len, cf);
    if (res < 0) return fail(res);
  }
  op = 0;
  return 0;
}
