// EST-coaps payloads (RFC 9148 §5, RFC 7030 §4): readers for the media types
// the device receives and the refusal codes of the EST layer. Every reader is
// zero-copy over [p, p+len), bounded by len, and refuses with an EstError
// (never a trap): PKCS#7 certs-only (281), one certificate (287), CSR
// attributes (285), multipart-core (62, RFC 8710) and PKCS#8 (284).
import {
  derNext, derExpect, derSmallUint, Tag, derTag, derVal, derLen, derEnd, oidIs, bytesEqual,
} from "../asn1/der";
import { Cert, x509Parse, oidArc } from "../x509/cert";
import { CborValue, cborParserInit } from "../cbor/decoder";
import { CborType } from "../cbor/common";

/** EST layer errors (-200..): distinct from DER/X.509 (-100..) and CoAP (-1..). */
export namespace EstError {
  export const Malformed: i32 = -200; // not the structure the media type promises
  export const NoCertificate: i32 = -201; // PKCS#7 with zero certificates
  export const TooManyCertificates: i32 = -202; // PKCS#7 with more than EST_MAX_CERTS
  export const MultipartParts: i32 = -203; // multipart-core without exactly [284, key, 281|287, cert]
  export const KeyNotP256: i32 = -204; // PKCS#8 key on another curve / algorithm
  export const KeyScalarRange: i32 = -205; // PKCS#8 private key 0 or >= n
  export const ContentFormat: i32 = -206; // the response's Content-Format is not the one asked for
  export const ServerError: i32 = -207; // 4.xx / 5.xx (estLastCode has it)
  export const GaveUp: i32 = -208; // 5.03 more than EST_MAX_RETRIES times
  export const TooLarge: i32 = -209; // response above the stated buffer limit
  export const CertKeyMismatch: i32 = -210; // no returned certificate carries our public key
  export const ChainUntrusted: i32 = -211; // the issued certificate does not verify up to /crts
  export const AttUnsupported: i32 = -212; // /att asks for what we cannot do (RSA, P-384, SHA-384 ...)
  export const Csr: i32 = -213; // the CSR could not be built (name too long, SE refused to sign)
  export const Se: i32 = -214; // the SE refused a key operation (generate / import)
  export const Transport: i32 = -215; // CoAP timeout / reset / block error (estLastDetail)
  export const Busy: i32 = -216; // an operation is in progress
  export const BlockETag: i32 = -217; // Block2 representation changed underneath (RFC 7959 §2.4)
  export const CertExpired: i32 = -218; // issued certificate not valid now (time known)
}

/** RFC 9148 §8.2 / RFC 8710: CoAP Content-Formats of EST-coaps. */
export namespace EstFormat {
  export const MultipartCore: i32 = 62;
  export const Pkcs7CertsOnly: i32 = 281; // application/pkcs7-mime; smime-type=certs-only
  export const CsrAttrs: i32 = 285; // application/csrattrs
  export const Pkcs10: i32 = 286; // application/pkcs10
  export const PkixCert: i32 = 287; // application/pkix-cert
  export const Pkcs8: i32 = 284; // application/pkcs8
  export const LinkFormat: i32 = 40; // application/link-format (RFC 6690), /.well-known/core
}

/** Most certificates taken from one PKCS#7 (a leaf and a short chain). */
export const EST_MAX_CERTS: i32 = 4;

// @ts-ignore: decorator
@lazy const OID_SIGNED_DATA = memory.data<u8>([9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]); // 1.2.840.113549.1.7.2
// @ts-ignore: decorator
@lazy const OID_DATA = memory.data<u8>([9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01]); // 1.2.840.113549.1.7.1
// @ts-ignore: decorator
@lazy const OID_EC_PUBLIC_KEY = memory.data<u8>([7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]); // 1.2.840.10045.2.1
// @ts-ignore: decorator
@lazy const OID_P256 = memory.data<u8>([8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]); // 1.2.840.10045.3.1.7
// @ts-ignore: decorator
@lazy const OID_ECDSA_SHA256 = memory.data<u8>([8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]); // 1.2.840.10045.4.3.2
// @ts-ignore: decorator
@lazy const OID_ECDSA_SHA2 = memory.data<u8>([7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03]); // 1.2.840.10045.4.3.x
// @ts-ignore: decorator
@lazy const OID_PKCS1 = memory.data<u8>([8, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01]); // 1.2.840.113549.1.1.x (RSA)
// @ts-ignore: decorator
@lazy const OID_AT = memory.data<u8>([2, 0x55, 0x04]); // 2.5.4.x: X.520 name attributes
// @ts-ignore: decorator
@lazy const OID_ED = memory.data<u8>([2, 0x2b, 0x65]); // 1.3.101.x: Ed25519/X25519...

/** P-256 group order n (SEC 2 2.4.2), big-endian. */
// @ts-ignore: decorator
@lazy const P256_N = memory.data<u8>([
  0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
]);

/** Certificates found by estReadPkcs7: (u32 pointer, i32 length) pairs like x509VerifyChain's list. */
export const estCerts = memory.data(EST_MAX_CERTS * 8, 4);
export let estCertCount: i32 = 0;

/** RFC 5652 §5.1 / RFC 8551 §3.2.2: ContentInfo { signedData, SignedData {
 *  version, digestAlgorithms, encapContentInfo { data }, certificates [0] } }
 *  with no signers (certs-only). Fills estCerts; returns the count or an error. */
export function estReadPkcs7(p: usize, len: i32): i32 {
  estCertCount = 0;
  if (len <= 0) return EstError.Malformed;
  const end = p + <usize>len;
  if (derExpect(p, end, Tag.SEQUENCE) < 0 || derEnd != end) return EstError.Malformed;
  const ciEnd = derEnd;
  if (derExpect(derVal, ciEnd, Tag.OID) < 0 || !oidIs(derVal, derLen, OID_SIGNED_DATA)) return EstError.Malformed;
  if (derExpect(derEnd, ciEnd, Tag.CONTEXT_CONSTRUCTED) < 0 || derEnd != ciEnd) return EstError.Malformed; // [0] EXPLICIT
  if (derExpect(derVal, ciEnd, Tag.SEQUENCE) < 0 || derEnd != ciEnd) return EstError.Malformed; // SignedData
  const sdEnd = derEnd;
  if (derSmallUint(derVal, sdEnd) < 0) return EstError.Malformed; // CMSVersion
  if (derExpect(derEnd, sdEnd, Tag.SET) < 0) return EstError.Malformed; // digestAlgorithms
  if (derExpect(derEnd, sdEnd, Tag.SEQUENCE) < 0) return EstError.Malformed; // encapContentInfo
  const eciEnd = derEnd;
  if (derExpect(derVal, eciEnd, Tag.OID) < 0 || !oidIs(derVal, derLen, OID_DATA)) return EstError.Malformed;
  if (derNext(eciEnd, sdEnd) < 0) return EstError.Malformed;
  if (derTag != Tag.CONTEXT_CONSTRUCTED) return EstError.NoCertificate; // certificates [0] IMPLICIT absent
  const certsEnd = derEnd;
  let q = derVal;
  let n = 0;
  while (q < certsEnd) {
    if (derExpect(q, certsEnd, Tag.SEQUENCE) < 0) return EstError.Malformed;
    if (n == EST_MAX_CERTS) return EstError.TooManyCertificates;
    const e = estCerts + <usize>(n << 3);
    store<u32>(e, <u32>q);
    store<i32>(e, <i32>(derEnd - q), 4);
    n++;
    q = derEnd;
  }
  if (n == 0) return EstError.NoCertificate;
  // crls [1] (optional), then signerInfos SET (empty for certs-only), nothing after
  q = certsEnd;
  if (derNext(q, sdEnd) < 0) return EstError.Malformed;
  if (derTag == (Tag.CONTEXT_CONSTRUCTED | 1)) {
    q = derEnd;
    if (derNext(q, sdEnd) < 0) return EstError.Malformed;
  }
  if (derTag != Tag.SET || derEnd != sdEnd) return EstError.Malformed;
  estCertCount = n;
  return n;
}

/** application/pkix-cert (287): exactly one DER certificate, parsed into c. 0 or an error. */
export function estReadCert(p: usize, len: i32, c: Cert): i32 {
  if (len <= 0) return EstError.Malformed;
  const r = x509Parse(p, len, c);
  if (r < 0) return r;
  return c.derLen == len ? 0 : EstError.Malformed;
}

/** What /att asked for that we honour (estReadCsrAttrs). */
export namespace AttFlag {
  export const SerialNumber: i32 = 1; // subject serialNumber (2.5.4.5): the endpoint name
}
export let estAttFlags: i32 = 0;

/** One algorithm OID from /att: 0 when we can do it, else AttUnsupported. */
function attAlgorithm(val: usize, n: i32): i32 {
  if (oidArc(val, n, OID_PKCS1) >= 0) return EstError.AttUnsupported; // rsaEncryption, sha*WithRSA
  if (oidArc(val, n, OID_ED) >= 0) return EstError.AttUnsupported; // Ed25519, Ed448
  if (oidArc(val, n, OID_ECDSA_SHA2) >= 0 && !oidIs(val, n, OID_ECDSA_SHA256)) return EstError.AttUnsupported; // SHA-384/512
  return 0;
}

/** CsrAttrs (RFC 7030 §4.5.2, RFC 9148 §5): SEQUENCE OF (OID | Attribute).
 *  Honours the subject name fields we know (CN always, serialNumber), the curve
 *  (P-256 only) and the signature hash (SHA-256 only); other hints (e.g.
 *  challengePassword, extensionRequest) are ignored as RFC 7030 §4.5 allows.
 *  Sets estAttFlags; 0 or an error (AttUnsupported for RSA, P-384, SHA-384 ...). */
export function estReadCsrAttrs(p: usize, len: i32): i32 {
  estAttFlags = 0;
  const end = p + <usize>len;
  if (len <= 0 || derExpect(p, end, Tag.SEQUENCE) < 0 || derEnd != end) return EstError.Malformed;
  let q = derVal;
  let flags = 0;
  while (q < end) {
    if (derNext(q, end) < 0) return EstError.Malformed;
    const next = derEnd;
    if (derTag == Tag.OID) {
      const val = derVal, n = derLen;
      const r = attAlgorithm(val, n);
      if (r < 0) return r;
      if (oidArc(val, n, OID_AT) == 5) flags |= AttFlag.SerialNumber;
    } else if (derTag == Tag.SEQUENCE) { // Attribute { type, values SET OF }
      const aEnd = derEnd;
      if (derExpect(derVal, aEnd, Tag.OID) < 0) return EstError.Malformed;
      const tv = derVal, tn = derLen;
      if (derExpect(derEnd, aEnd, Tag.SET) < 0 || derEnd != aEnd) return EstError.Malformed;
      let v = derVal;
      const isKey = oidIs(tv, tn, OID_EC_PUBLIC_KEY);
      let r = attAlgorithm(tv, tn);
      if (r < 0) return r;
      while (v < aEnd) {
        if (derNext(v, aEnd) < 0) return EstError.Malformed;
        // RFC 7030 §4.5.2 example: ecPublicKey with the named curve as its value
        if (isKey && derTag == Tag.OID && !oidIs(derVal, derLen, OID_P256)) return EstError.AttUnsupported;
        if (derTag == Tag.OID) {
          r = attAlgorithm(derVal, derLen);
          if (r < 0) return r;
        }
        v = derEnd;
      }
    } else {
      return EstError.Malformed;
    }
    q = next;
  }
  estAttFlags = flags;
  return 0;
}

/** Parts found by estReadMultipart: the PKCS#8 key and the certificate part. */
export let estPartKey: usize = 0;
export let estPartKeyLen: i32 = 0;
export let estPartCert: usize = 0;
export let estPartCertLen: i32 = 0;
export let estPartCertFormat: i32 = 0;

// @ts-ignore: decorator
@lazy const CB_TOP = memory.data(32, 8);
// @ts-ignore: decorator
@lazy const CB_ARR = memory.data(32, 8);

/** Reads one (Content-Format uint, byte string) pair at it; the format, or an error. */
function readPart(it: CborValue): i32 {
  if (it.type != CborType.UnsignedInteger || it.arg > 0xffff) return EstError.MultipartParts;
  const cf = <i32>it.arg;
  if (it.advance() != 0 || it.type != CborType.ByteString || it.isIndefinite()) return EstError.MultipartParts;
  return cf;
}

/** multipart-core (RFC 8710 §2; RFC 9148 §4.8 for /skg): a CBOR array of
 *  exactly [284, bstr PKCS#8, 281|287, bstr certificate]. A missing, extra or
 *  reordered part is refused. 0 or an error. */
export function estReadMultipart(p: usize, len: i32): i32 {
  estPartKeyLen = 0;
  estPartCertLen = 0;
  const top = changetype<CborValue>(CB_TOP);
  const arr = changetype<CborValue>(CB_ARR);
  if (len <= 0 || cborParserInit(top, p, len, 2) != 0 || top.type != CborType.Array || top.isIndefinite()) return EstError.Malformed;
  if (<u32>top.arg != 4) return EstError.MultipartParts;
  if (top.enter(arr) != 0) return EstError.Malformed;
  let cf = readPart(arr);
  if (cf < 0) return cf;
  if (cf != EstFormat.Pkcs8) return EstError.MultipartParts;
  const kp = arr.stringPtr(), kl = <i32>arr.arg;
  if (<u64>kl != arr.arg || kp + <usize>kl > p + <usize>len) return EstError.Malformed;
  if (arr.advance() != 0) return EstError.Malformed;
  cf = readPart(arr);
  if (cf < 0) return cf;
  if (cf != EstFormat.Pkcs7CertsOnly && cf != EstFormat.PkixCert) return EstError.MultipartParts;
  const cp = arr.stringPtr(), cl = <i32>arr.arg;
  if (<u64>cl != arr.arg || cp + <usize>cl > p + <usize>len) return EstError.Malformed;
  if (arr.advance() != 0 || arr.type != CborType.End) return EstError.MultipartParts;
  if (top.leave(arr) != 0 || top.type != CborType.End || top.ptr != p + <usize>len) return EstError.Malformed;
  estPartKey = kp;
  estPartKeyLen = kl;
  estPartCert = cp;
  estPartCertLen = cl;
  estPartCertFormat = cf;
  return 0;
}

/** 1 when the 32-byte big-endian a is in [1, n-1], without early exit (a secret). */
function scalarInRange(a: usize): bool {
  let borrow: i32 = 0, any: i32 = 0;
  for (let i = 31; i >= 0; i--) {
    const x = <i32>load<u8>(a + <usize>i);
    const d = x - <i32>load<u8>(P256_N + <usize>i) - borrow;
    borrow = (d >> 31) & 1; // a - n borrows out of the top: a < n
    any |= x;
  }
  return borrow == 1 && any != 0;
}

/** ECPrivateKey (RFC 5915 §3) TLV at [p, end): SEQUENCE { version 1, privateKey
 *  OCTET STRING (32), [0] parameters, [1] publicKey }. `needCurve`: parameters
 *  must be present (nothing else names the curve). The scalar's address or an error. */
function readEcPrivateKey(p: usize, end: usize, needCurve: bool): i32 {
  if (derExpect(p, end, Tag.SEQUENCE) < 0 || derEnd != end) return EstError.Malformed;
  if (derSmallUint(derVal, end) != 1) return EstError.Malformed;
  if (derExpect(derEnd, end, Tag.OCTET_STRING) < 0) return EstError.Malformed;
  const scalar = derVal, scalarLen = derLen;
  let q = derEnd;
  let curve = false;
  while (q < end) {
    if (derNext(q, end) < 0) return EstError.Malformed;
    const e = derEnd;
    if (derTag == Tag.CONTEXT_CONSTRUCTED) { // parameters: must name P-256
      if (derExpect(derVal, e, Tag.OID) < 0 || derEnd != e || !oidIs(derVal, derLen, OID_P256)) return EstError.KeyNotP256;
      curve = true;
    } else if (derTag != (Tag.CONTEXT_CONSTRUCTED | 1)) {
      return EstError.Malformed;
    }
    q = e;
  }
  if (needCurve && !curve) return EstError.KeyNotP256;
  // RFC 5915 §3: ceiling(log2(n)/8) = 32 octets; the value in [1, n-1] (SEC 1 §3.2.1)
  if (scalarLen != 32 || !scalarInRange(scalar)) return EstError.KeyScalarRange;
  return <i32>scalar;
}

/** The private key of an /skg answer (Content-Format 284): PKCS#8
 *  OneAsymmetricKey (RFC 5958 §2) with id-ecPublicKey / P-256 around an
 *  ECPrivateKey (RFC 5915 §3). libest sends the bare ECPrivateKey under 284
 *  (OpenSSL's i2d_PrivateKey); that form is taken too when its parameters name
 *  P-256. Returns the offset of the 32-byte private scalar from p, or an
 *  error. The caller imports it into the SE and wipes [p, p+len) at once. */
export function estReadPkcs8(p: usize, len: i32): i32 {
  if (len <= 0) return EstError.Malformed;
  const end = p + <usize>len;
  if (derExpect(p, end, Tag.SEQUENCE) < 0 || derEnd != end) return EstError.Malformed;
  const v = derSmallUint(derVal, end);
  if (v < 0) return EstError.Malformed;
  let r: i32;
  if (derNext(derEnd, end) < 0) return EstError.Malformed;
  if (v == 1 && derTag == Tag.OCTET_STRING) {
    r = readEcPrivateKey(p, end, true); // RFC 5915 alone
  } else {
    if (v > 1 || derTag != Tag.SEQUENCE) return EstError.Malformed; // v1(0) or v2(1), privateKeyAlgorithm
    const algEnd = derEnd, keyStart = derEnd;
    if (derExpect(derVal, algEnd, Tag.OID) < 0) return EstError.Malformed;
    if (!oidIs(derVal, derLen, OID_EC_PUBLIC_KEY)) return EstError.KeyNotP256;
    if (derNext(derEnd, algEnd) < 0 || derTag != Tag.OID || derEnd != algEnd) return EstError.KeyNotP256;
    if (!oidIs(derVal, derLen, OID_P256)) return EstError.KeyNotP256;
    if (derExpect(keyStart, end, Tag.OCTET_STRING) < 0) return EstError.Malformed; // privateKey
    const ecStart = derVal, ecEnd = derEnd;
    // what may follow: attributes [0], publicKey [1] (v2)
    let t = ecEnd;
    while (t < end) {
      if (derNext(t, end) < 0) return EstError.Malformed;
      if (derTag != Tag.CONTEXT_CONSTRUCTED && derTag != (Tag.CONTEXT_PRIMITIVE | 1)) return EstError.Malformed;
      t = derEnd;
    }
    r = readEcPrivateKey(ecStart, ecEnd, false);
  }
  return r < 0 ? r : <i32>(<usize>r - p);
}

// ---- discovery: RFC 9148 §4.1, RFC 6690 §2 link format -------------------------------

/** The EST resources by EstOp (1..5): "crts" "sen" "sren" "skg" "att", at (offset, length) in EST_OP_NAMES. */
// @ts-ignore: decorator
@lazy export const EST_OP_NAMES = memory.data<u8>([0x63, 0x72, 0x74, 0x73, 0x73, 0x65, 0x6e, 0x73, 0x72, 0x65, 0x6e, 0x73, 0x6b, 0x67, 0x61, 0x74, 0x74]);
// @ts-ignore: decorator
@lazy export const EST_OP_INDEX = memory.data<u8>([0, 4, 4, 3, 7, 4, 11, 3, 14, 3]);
// @ts-ignore: decorator
@lazy const ACE_EST = memory.data<u8>([0x61, 0x63, 0x65, 0x2e, 0x65, 0x73, 0x74, 0x2e]); // "ace.est."
/** One discovered path per EstOp: [length u8][the path without its leading '/'], EST_LINK_SLOT bytes each. */
export const EST_LINK_SLOT: i32 = 24;
export const EST_LINK_TABLE: i32 = 5 * EST_LINK_SLOT;

// the reader's cursor over [lp, lp + ln)
let lp: usize = 0;
let ln: i32 = 0;
let lq: i32 = 0;
/** The byte at the cursor, -1 at the end. */
function peek(): i32 { return lq < ln ? <i32>load<u8>(lp + <usize>lq) : -1; }
/** Past blanks: space, tab, CR, LF (not in RFC 6690's grammar, but examples are printed with them). */
function skipBlank(): void { let c = peek(); while (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) { lq++; c = peek(); } }
/** To the next a, b or c (returned), or the end (-1). */
function until(a: i32, b: i32, c: i32): i32 {
  let x = peek();
  while (x >= 0 && x != a && x != b && x != c) { lq++; x = peek(); }
  return x;
}

/** The EstOp bits (1 << (op - 1)) named by an rt value: space-separated types (RFC 6690 §3.1), "ace.est.<op>" each. */
function rtOps(p: usize, n: i32): i32 {
  let mask = 0;
  let i = 0;
  while (i < n) {
    const s = i;
    while (i < n && load<u8>(p + <usize>i) != 0x20) i++;
    const l = i++ - s - 8;
    if (l <= 0 || !bytesEqual(p + <usize>s, ACE_EST, 8)) continue;
    for (let k = 0; k < 5; k++) {
      const at = EST_OP_INDEX + <usize>(k << 1);
      if (<i32>load<u8>(at, 1) == l && bytesEqual(p + <usize>(s + 8), EST_OP_NAMES + <usize>load<u8>(at), l)) mask |= 1 << k;
    }
  }
  return mask;
}

/** One link-value at the cursor (`<URI>` then `;param[=value]`s): its EST paths into table;
 *  the number of operations newly found, or -1 for bad syntax. */
function readLink(table: usize): i32 {
  if (peek() != 0x3c) return -1; // '<'
  const u = ++lq;
  if (until(0x3e, 0x3e, 0x3e) < 0) return -1; // '>'
  const uEnd = lq++;
  let mask = 0;
  skipBlank();
  while (peek() == 0x3b) { // ';' link-param
    lq++;
    skipBlank();
    const n = lq;
    let c = until(0x3d, 0x3b, 0x2c); // '=' ';' ','
    const nameLen = lq - n;
    let v = lq;
    if (c == 0x3d) {
      v = ++lq;
      if (peek() == 0x22) { // quoted-string; '\' escapes the next byte
        v = ++lq;
        while ((c = until(0x22, 0x5c, 0x5c)) == 0x5c) lq += 2;
        if (c < 0) return -1;
      } else until(0x3b, 0x2c, 0x2c);
    }
    if (nameLen == 2 && load<u16>(lp + <usize>n) == 0x7472) mask |= rtOps(lp + <usize>v, lq - v); // "rt"
    if (peek() == 0x22) lq++;
    skipBlank();
  }
  // RFC 9148 §4.1: a path on this server ("/..." but not "//host"), no query, fragment or escapes
  const pl = uEnd - u - 1;
  const path = lp + <usize>u;
  let ok = mask != 0 && pl > 0 && pl < EST_LINK_SLOT && load<u16>(path) != 0x2f2f && load<u8>(path) == 0x2f;
  for (let i = 0; ok && i <= pl; i++) { const c = load<u8>(path + <usize>i); ok = c > 0x20 && c < 0x7f && c != 0x3f && c != 0x23 && c != 0x25; }
  let found = 0;
  for (let k = 0; ok && k < 5; k++) {
    if (!(mask & (1 << k))) continue;
    const slot = table + <usize>(k * EST_LINK_SLOT);
    if (load<u8>(slot) == 0) found++;
    store<u8>(slot, <u8>pl);
    memory.copy(slot + 1, path + 1, <usize>pl);
  }
  return found;
}

/**
 * A /.well-known/core answer (RFC 6690 §2: `<URI>;param=value;...` links separated by ','):
 * the paths of the links whose rt names an EST resource (RFC 9148 §4.1, e.g.
 * `</est/sen>;rt="ace.est.sen";ct="281 287"`) go into `table` (EST_LINK_TABLE bytes). Only
 * absolute paths on the same server ("/..." but not "//host"), without query, fragment or
 * percent-escapes, up to EST_LINK_SLOT - 1 bytes; other links are skipped. The number of
 * EST resources found, or Malformed (and an empty table: nothing half-applied).
 */
export function estReadLinks(p: usize, len: i32, table: usize): i32 {
  lp = p; ln = len; lq = 0;
  memory.fill(table, 0, <usize>EST_LINK_TABLE);
  let found = 0;
  for (;;) {
    skipBlank();
    if (peek() < 0) return found;
    const r = readLink(table);
    if (r < 0 || (peek() >= 0 && peek() != 0x2c)) break; // ',' between links
    found += r;
    lq++;
  }
  memory.fill(table, 0, <usize>EST_LINK_TABLE); // bad syntax: nothing half-applied
  return EstError.Malformed;
}
