// Test entry for assembly/est (EST-coaps payload readers, the PKCS#10 writer)
// and the enrolment runner (assembly/firmware/enrol.ts) that drives the EST
// client over DTLS + CoAP.
export { scratch, scratchSize } from "./_scratch";
export * from "../firmware/enrol";
import {
  estReadPkcs7, estCertCount, estCerts, estReadCsrAttrs, estAttFlags, estReadMultipart, estPartKey, estPartKeyLen,
  estPartCert, estPartCertLen, estPartCertFormat, estReadPkcs8, estReadCert,
} from "../est/codec";
import { estWriteCsr } from "../est/csr";
import { Cert, CERT_SIZE } from "../x509/cert";
import { se_generate_p256 } from "../host/abi";

export function pkcs7(p: usize, len: i32): i32 { return estReadPkcs7(p, len); }
/** i-th certificate of the last pkcs7(): offset from p in out[0], length in out[1]. */
export function pkcs7Cert(p: usize, i: i32, out: usize): void {
  store<i32>(out, <i32>(load<u32>(estCerts + <usize>(i << 3)) - <u32>p));
  store<i32>(out, load<i32>(estCerts + <usize>(i << 3), 4), 4);
}
export function pkcs7Count(): i32 { return estCertCount; }
export function cert(p: usize, len: i32, work: usize): i32 { return estReadCert(p, len, changetype<Cert>(work)); }
export function certSize(): i32 { return CERT_SIZE; }
export function csrAttrs(p: usize, len: i32): i32 { return estReadCsrAttrs(p, len); }
export function attFlags(): i32 { return estAttFlags; }
/** out: key offset, key length, cert offset, cert length, cert format. */
export function multipart(p: usize, len: i32, out: usize): i32 {
  const r = estReadMultipart(p, len);
  if (r == 0) {
    store<i32>(out, <i32>(estPartKey - p)); store<i32>(out, estPartKeyLen, 4);
    store<i32>(out, <i32>(estPartCert - p), 8); store<i32>(out, estPartCertLen, 12);
    store<i32>(out, estPartCertFormat, 16);
  }
  return r;
}
export function pkcs8(p: usize, len: i32): i32 { return estReadPkcs8(p, len); }
export function writeCsr(out: usize, cap: i32, cn: usize, cnLen: i32, pub: usize, slot: i32, flags: i32): i32 {
  return estWriteCsr(out, cap, cn, cnLen, pub, slot, flags);
}
export function generate(slot: i32, pub: usize): i32 { return se_generate_p256(slot, pub); }

// ---- the EST client over a plain CoAP endpoint, the test acting as the server ----
import { CoapEndpoint, CoapEvent, coapEndpointInit, coapEndpointSize } from "../coap/endpoint";
import {
  EST_WORK_SIZE, EST_RESPONSE_CAP, EST_MAX_RETRIES, estInit, estStart, estOnResponse, estOnTransportError, estTimer, estDeadline,
  estCert, estCertLen, estLastCode, estLastDetail, estCsr, estCsrLen, estPublicKey, estRetries, estCaCount,
} from "../est/client";
import * as estClient from "../est/client";

const PLAIN_MSG: i32 = 1152;
let plainArena: usize = 0;
let plainResult: i32 = 0;
function plainEp(): CoapEndpoint { return changetype<CoapEndpoint>(plainArena + <usize>EST_WORK_SIZE); }

export function responseCap(): i32 { return EST_RESPONSE_CAP; }
export function maxRetries(): i32 { return EST_MAX_RETRIES; }
/** A fresh client: name and path staged at p (name first). */
export function plainInit(p: usize, nameLen: i32, pathLen: i32, szx1: i32, szx2: i32, accept: i32): i32 {
  if (plainArena == 0) plainArena = changetype<usize>(new ArrayBuffer(EST_WORK_SIZE + coapEndpointSize(PLAIN_MSG, 1, 4)));
  const r = coapEndpointInit(plainArena + <usize>EST_WORK_SIZE, PLAIN_MSG, 1, 4);
  if (r != 0) return r;
  estClient.estSzx1 = szx1;
  estClient.estSzx2 = szx2;
  estClient.estAccept = accept;
  plainResult = 0;
  return estInit(plainArena, p + <usize>nameLen, pathLen, plainEp(), p, nameLen);
}
export function plainStart(op: i32, slot: i32, wall: i64, now: i64): i32 { plainResult = estStart(op, slot, wall, now); return plainResult; }
/** Next datagram the client sends (length; bytes at plainTxPtr()), 0 none. */
export function plainTx(): i32 { return plainEp().pollTransmit(); }
export function plainTxPtr(): usize { return plainEp().txPtr; }
function plainEvents(now: i64): void {
  const e = plainEp();
  for (;;) {
    const ev = e.pollEvent();
    if (ev == CoapEvent.None) break;
    if (e.eventSlot != 0) continue;
    if (ev == CoapEvent.Response) plainResult = estOnResponse(now);
    else if (ev == CoapEvent.Timeout || ev == CoapEvent.Reset) plainResult = estOnTransportError(ev);
  }
}
/** A datagram from the server at p; the client's status after it (1 pending, 0 done, < 0 error). */
export function plainRx(p: usize, len: i32, now: i64): i32 {
  plainEp().handleDatagram(p, len, now);
  plainEvents(now);
  return plainResult;
}
export function plainTimer(now: i64): i32 {
  const e = plainEp();
  e.handleTimeout(now);
  plainEvents(now);
  const d = estDeadline();
  if (d >= 0 && now >= d) plainResult = estTimer(now);
  return plainResult;
}
export function plainDeadline(): i64 {
  const a = plainEp().nextDeadline(), b = estDeadline();
  return a < 0 ? b : b < 0 ? a : min(a, b);
}
export function plainCode(): i32 { return estLastCode; }
export function plainDetail(): i32 { return estLastDetail; }
export function plainRetries(): i32 { return estRetries; }
export function plainCaCount(): i32 { return estCaCount(); }
export function plainCertPtr(): usize { return estCert; }
export function plainCertLen(): i32 { return estCertLen; }
export function plainCsrPtr(): usize { return estCsr(); }
export function plainCsrLen(): i32 { return estCsrLen(); }
export function plainPub(): usize { return estPublicKey(); }
/** The whole client work area (to check that no key bytes remain). */
export function plainArenaPtr(): usize { return plainArena; }
export function plainArenaLen(): i32 { return EST_WORK_SIZE; }

// ---- the enrolled credential in the store ----
import { estCredentialInstall, estCredentialLoad, estCredSlot, estNextSlot, estRenewAt } from "../est/credential";
import { storeMount } from "../storage/store";
export function mount(): i32 { return storeMount(); }
export function credInstall(cert: usize, len: i32, slot: i32, wall: i64, buf: usize, work: usize): i32 { return estCredentialInstall(cert, len, slot, wall, buf, work); }
export function credLoad(buf: usize, cap: i32, work: usize): i32 { return estCredentialLoad(buf, cap, work); }
export function credSlot(): i32 { return estCredSlot; }
export function credNextSlot(): i32 { return estNextSlot(); }
export function renewAt(nb: i64, na: i64, pct: i32): i64 { return estRenewAt(nb, na, pct); }

// ---- discovery: the link-format reader (RFC 6690) ----
import { estReadLinks, EST_LINK_TABLE } from "../est/codec";
/** The EST resources found in [p, p+len), their paths in out (EST_LINK_TABLE bytes: 5 × [len u8][path]). */
export function links(p: usize, len: i32, out: usize): i32 { return estReadLinks(p, len, out); }
export function linkTableSize(): i32 { return EST_LINK_TABLE; }
