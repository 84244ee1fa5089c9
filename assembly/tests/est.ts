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
