// PKCS#10 CertificationRequest (RFC 2986 §4) for EST /sen, /sren, /skg
// (RFC 7030 §4.2, RFC 9148): subject CN = the endpoint name (and serialNumber
// when /att asks for it), the SE's P-256 public key (RFC 5480), signed in the
// SE with ecdsa-with-SHA256 (RFC 5758 §3.2). Built with the DER writer into a
// caller buffer; the private key never leaves the SE.
import { derHeaderLen, derPutHeader, derPut, Tag, DerError } from "../asn1/der";
import { ecdsaRawToDer } from "../x509/verify";
import { sha256 } from "../crypto/sha256";
import { se_sign_digest, HostStatus } from "../host/abi";
import { EstError, AttFlag } from "./codec";

/** X.520 ub-common-name (RFC 5280 Appendix A.1): 64 characters. */
export const EST_MAX_CN: i32 = 64;

// SubjectPublicKeyInfo header for an uncompressed P-256 point (RFC 5480 §2):
// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused) }
// @ts-ignore: decorator
@lazy const SPKI_P256_HDR = memory.data<u8>([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
  0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);
const SPKI_HDR_LEN: i32 = 26;
// AlgorithmIdentifier ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2)
// @ts-ignore: decorator
@lazy const ALG_ECDSA_SHA256 = memory.data<u8>([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
const ALG_LEN: i32 = 12;
// @ts-ignore: decorator
@lazy const OID_CN = memory.data<u8>([0x06, 0x03, 0x55, 0x04, 0x03]); // 2.5.4.3 commonName
// @ts-ignore: decorator
@lazy const OID_SERIAL = memory.data<u8>([0x06, 0x03, 0x55, 0x04, 0x05]); // 2.5.4.5 serialNumber

const csrDigest = memory.data(32);
const csrRaw = memory.data(64);

/** One RelativeDistinguishedName SET { SEQUENCE { oid, string } } at out; octets written. */
function putRdn(out: usize, oid: usize, strTag: i32, s: usize, n: i32): i32 {
  const atv = 5 + derHeaderLen(n) + n;
  const rdn = derHeaderLen(atv) + atv;
  let q = out + <usize>derPutHeader(out, Tag.SET, rdn);
  q += <usize>derPutHeader(q, Tag.SEQUENCE, atv);
  memory.copy(q, oid, 5);
  derPut(q + 5, n + 4, strTag, s, n);
  return derHeaderLen(rdn) + rdn;
}

function rdnLen(n: i32): i32 {
  const atv = 5 + derHeaderLen(n) + n;
  const rdn = derHeaderLen(atv) + atv;
  return derHeaderLen(rdn) + rdn;
}

/** PrintableString's characters (X.680 41.4: A-Z a-z 0-9 space ' ( ) + , - . / : = ?), one bit
 *  per character 0x20..0x7f. */
// @ts-ignore: decorator
@lazy const PRINTABLE = memory.data<u8>([0x81, 0xfb, 0xff, 0xa7, 0xfe, 0xff, 0xff, 0x07, 0xfe, 0xff, 0xff, 0x07]);

/** Printable for PrintableString: serialNumber needs it (X.520). */
function printable(s: usize, n: i32): bool {
  for (let i = 0; i < n; i++) {
    const c = <i32>load<u8>(s + <usize>i) - 0x20;
    if (<u32>c >= 0x60 || !((load<u8>(PRINTABLE + <usize>(c >> 3)) >> <u8>(c & 7)) & 1)) return false;
  }
  return true;
}

/**
 * Writes a DER CertificationRequest into [out, out+cap): subject CN = [cn, cn+cnLen)
 * (UTF8String; plus serialNumber = the same name with AttFlag.SerialNumber),
 * public key = the 65-byte point at pub, signed by SE slot `slot`.
 * Returns the length, or EstError.Csr / DerError.TooSmall.
 */
export function estWriteCsr(out: usize, cap: i32, cn: usize, cnLen: i32, pub: usize, slot: i32, attFlags: i32): i32 {
  if (cnLen <= 0 || cnLen > EST_MAX_CN || load<u8>(pub) != 0x04) return EstError.Csr;
  const serial = (attFlags & AttFlag.SerialNumber) != 0;
  if (serial && !printable(cn, cnLen)) return EstError.Csr;
  // certificationRequestInfo ::= SEQUENCE { version 0, subject Name, subjectPKInfo, attributes [0] {} }
  const nameBody = (serial ? rdnLen(cnLen) : 0) + rdnLen(cnLen);
  const name = derHeaderLen(nameBody) + nameBody;
  const criBody = 3 + name + SPKI_HDR_LEN + 65 + 2;
  const cri = derHeaderLen(criBody) + criBody;
  // room: outer header (<= 4) + cri + alg + signature BIT STRING (<= 2 + 1 + 72)
  if (cap < 4 + cri + ALG_LEN + 75) return DerError.TooSmall;
  const c0 = out + 4;
  let q = c0 + <usize>derPutHeader(c0, Tag.SEQUENCE, criBody);
  store<u8>(q, Tag.INTEGER); store<u8>(q + 1, 1); store<u8>(q + 2, 0);
  q += 3;
  q += <usize>derPutHeader(q, Tag.SEQUENCE, nameBody);
  if (serial) q += <usize>putRdn(q, OID_SERIAL, Tag.PRINTABLE_STRING, cn, cnLen);
  q += <usize>putRdn(q, OID_CN, Tag.UTF8_STRING, cn, cnLen);
  memory.copy(q, SPKI_P256_HDR, SPKI_HDR_LEN);
  memory.copy(q + SPKI_HDR_LEN, pub, 65);
  q += SPKI_HDR_LEN + 65;
  store<u8>(q, Tag.CONTEXT_CONSTRUCTED); store<u8>(q + 1, 0); // attributes: none (RFC 2986 §4.1)
  q += 2;
  // signature over the DER of certificationRequestInfo (RFC 2986 §4.2)
  sha256(c0, cri, csrDigest);
  const s = se_sign_digest(slot, csrDigest, csrRaw);
  memory.fill(csrDigest, 0, 32);
  if (s != HostStatus.Ok) return EstError.Csr;
  memory.copy(q, ALG_ECDSA_SHA256, ALG_LEN);
  q += ALG_LEN;
  const sigDer = ecdsaRawToDer(csrRaw, q + 3, 72);
  if (sigDer < 0) return EstError.Csr;
  store<u8>(q, Tag.BIT_STRING); store<u8>(q + 1, <u8>(sigDer + 1)); store<u8>(q + 2, 0);
  q += <usize>(3 + sigDer);
  return derPut(out, cap, Tag.SEQUENCE, c0, <i32>(q - c0));
}
