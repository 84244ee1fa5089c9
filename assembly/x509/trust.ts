// LwM2M 1.1 trust decisions for the server's certificate or raw public key.
//
// Security object (OMA-TS-LightweightM2M-V1_1, object 0): resource 4
// "Server Public Key", 13 "Matching Type" (0 exact match, default; 1 SHA-256;
// 2 SHA-384 and 3 SHA-512 are refused: no such hash in this firmware),
// 14 "SNI" (when present it, not the Server URI host, is matched against the
// certificate), 15 "Certificate Usage" with the RFC 6698 section 2.1.1
// semantics (default 3):
//   0 CA constraint (PKIX-TA): PKIX validation against the device's trust
//     store, and the CA in resource 4 must be in the validated path.
//   1 service certificate constraint (PKIX-EE): PKIX validation against the
//     trust store, and the server certificate must match resource 4.
//   2 trust anchor assertion (DANE-TA): resource 4 is the trust anchor the
//     chain must validate to (no trust store needed). With matching type 1
//     the anchor certificate must be in the presented chain.
//   3 domain-issued certificate (DANE-EE) = direct trust (DTLS-5): the server
//     certificate must match resource 4; validity and names are not checked
//     (RFC 7671 5.1, DTLS-6).
// Usages 0-2 check the host name (RFC 6125 6.4, RFC 7671 5.2.2). The key
// policy (P-256, ECDSA-SHA256, DTLS-7) applies to every usage.
import { Tag, derNext, bytesEqual, derTag, derVal, derLen, derEnd } from "../asn1/der";
import { sha256 } from "../crypto/sha256";
import { P256_PUBLIC_KEY_LEN } from "../host/abi";
import { Cert, CertFlag, X509Error, x509Parse, x509ParseSpki } from "./cert";
import { VerifyFlag, x509VerifyChain, listPtr, listLen } from "./verify";

export namespace CertUsage {
  export const CA_CONSTRAINT: i32 = 0;
  export const SERVICE_CERTIFICATE_CONSTRAINT: i32 = 1;
  export const TRUST_ANCHOR_ASSERTION: i32 = 2;
  export const DOMAIN_ISSUED_CERTIFICATE: i32 = 3;
}

export namespace MatchingType {
  export const EXACT: i32 = 0;
  export const SHA256: i32 = 1;
}

/** What the DTLS client knows about the server it dials (from object 0).
 *  Place in caller memory (TRUST_CONFIG_SIZE bytes) with changetype. */
@unmanaged
export class TrustConfig {
  usage: i32; // resource 15 (3 when absent)
  matching: i32; // resource 13 (0 when absent)
  serverKey: usize; serverKeyLen: i32; // resource 4
  host: usize; hostLen: i32; // resource 14 (SNI) when present, else the Server URI host
  store: usize; storeCount: i32; // PKIX trust store for usages 0/1: (u32 ptr, i32 len) pairs of anchor DER
  ownPub: usize; // our own 65-byte public key (DTLS-8); 0 = unknown
  flags: i32; // VerifyFlag.* (e.g. ALLOW_TIME_LOWER_BOUND)

  /** Every field zero (usage 0, no key, no host, no store, no flags): set what applies after. */
  clear(): void { memory.fill(changetype<usize>(this), 0, offsetof<TrustConfig>()); }
}
export const TRUST_CONFIG_SIZE: i32 = <i32>offsetof<TrustConfig>();

const hashBuf = memory.data(32);
const ipBuf = memory.data(16);

/** 1 when the certificate [p, p+len) matches resource 4 under the matching type, 0 when not. */
function certMatches(p: usize, len: i32, cfg: TrustConfig): i32 {
  if (cfg.matching == MatchingType.EXACT) {
    return (len == cfg.serverKeyLen && bytesEqual(p, cfg.serverKey, len)) ? 1 : 0;
  }
  if (cfg.serverKeyLen != 32) return X509Error.Malformed;
  sha256(p, len, hashBuf);
  return bytesEqual(hashBuf, cfg.serverKey, 32) ? 1 : 0;
}

/** DTLS-8: 0, or KeyEqualsOwn when the peer's 65-byte key is our own. */
export function x509KeyNotOwn(peerPub: usize, ownPub: usize): i32 {
  if (ownPub == 0) return 0;
  return bytesEqual(peerPub, ownPub, P256_PUBLIC_KEY_LEN) ? X509Error.KeyEqualsOwn : 0;
}

/** PKIX validation against each anchor of the trust store (usages 0 and 1).
 *  With `constraint`, resource 4 must also match a CA of the validated path. */
function pkix(cfg: TrustConfig, list: usize, count: i32, now: i64, flags: i32, work: usize, constraint: bool): i32 {
  if (cfg.storeCount <= 0) return X509Error.NoTrustStore;
  let best = X509Error.UntrustedIssuer;
  for (let a = 0; a < cfg.storeCount; a++) {
    const ap = listPtr(cfg.store, a), al = listLen(cfg.store, a);
    const m = x509VerifyChain(list, count, ap, al, now, flags, work);
    if (m < 0) {
      if (m != X509Error.UntrustedIssuer && best != X509Error.CaConstraintMismatch) best = m;
      continue;
    }
    if (!constraint) return 0;
    let r = certMatches(ap, al, cfg);
    for (let i = 1; i < m && r == 0; i++) r = certMatches(listPtr(list, i), listLen(list, i), cfg);
    if (r < 0) return r;
    if (r == 1) return 0;
    best = X509Error.CaConstraintMismatch;
  }
  return best;
}

/** Decides whether the server's certificate chain `list` (count entries,
 *  leaf first, as (u32 ptr, i32 len) pairs) is trusted under cfg at `now`
 *  (Unix seconds, -1 unknown). work: X509_WORK_SIZE bytes; on success slot 0
 *  holds the parsed leaf (its .pub verifies the ServerKeyExchange). */
export function lwm2mVerifyServer(cfg: TrustConfig, list: usize, count: i32, now: i64, work: usize): i32 {
  if (count <= 0) return X509Error.Malformed;
  if (<u32>cfg.usage > 3) return X509Error.UnsupportedCertUsage;
  if (<u32>cfg.matching > 1) return X509Error.UnsupportedMatchingType;
  const flags = cfg.flags | VerifyFlag.SERVER_AUTH;
  const leaf = changetype<Cert>(work);
  let r: i32;
  if (cfg.usage == CertUsage.DOMAIN_ISSUED_CERTIFICATE) {
    r = certMatches(listPtr(list, 0), listLen(list, 0), cfg);
    if (r < 0) return r;
    if (r == 0) return X509Error.CertMismatch;
    r = x509Parse(listPtr(list, 0), listLen(list, 0), leaf);
    if (r < 0) return r;
    return x509KeyNotOwn(leaf.pub, cfg.ownPub);
  }
  if (cfg.usage == CertUsage.TRUST_ANCHOR_ASSERTION) {
    let anchor = cfg.serverKey, anchorLen = cfg.serverKeyLen;
    if (cfg.matching == MatchingType.SHA256) {
      let i = 0;
      for (; i < count; i++) {
        r = certMatches(listPtr(list, i), listLen(list, i), cfg);
        if (r < 0) return r;
        if (r == 1) break;
      }
      if (i == count) return X509Error.UntrustedIssuer;
      anchor = listPtr(list, i);
      anchorLen = listLen(list, i);
    }
    r = x509VerifyChain(list, count, anchor, anchorLen, now, flags, work);
  } else {
    if (cfg.usage == CertUsage.SERVICE_CERTIFICATE_CONSTRAINT) {
      r = certMatches(listPtr(list, 0), listLen(list, 0), cfg);
      if (r < 0) return r;
      if (r == 0) return X509Error.CertMismatch;
    }
    r = pkix(cfg, list, count, now, flags, work, cfg.usage == CertUsage.CA_CONSTRAINT);
  }
  if (r < 0) return r;
  r = x509MatchHost(leaf, cfg.host, cfg.hostLen);
  if (r < 0) return r;
  return x509KeyNotOwn(leaf.pub, cfg.ownPub);
}

// ---- host names (RFC 6125 section 6) ---------------------------------------

// @ts-ignore: decorator
@inline function lower(c: u32): u32 { return c - 0x41 < 26 ? c | 0x20 : c; }

function eqNoCase(a: usize, b: usize, n: i32): bool {
  for (let i = 0; i < n; i++) {
    if (lower(load<u8>(a + <usize>i)) != lower(load<u8>(b + <usize>i))) return false;
  }
  return true;
}

function indexOf(p: usize, n: i32, c: u8): i32 {
  for (let i = 0; i < n; i++) if (load<u8>(p + <usize>i) == c) return i;
  return -1;
}

/** A reference DNS name (host) against a presented identifier (pattern):
 *  1 match, 0 no match, -1 a wildcard directly over a TLD that would match.
 *  RFC 6125 6.4.3: `*` only as the whole left-most label, matching exactly
 *  one label; no partial-label wildcards; ASCII case-insensitive (6.4.1). */
function dnsMatch(pat: usize, pl: i32, host: usize, hl: i32): i32 {
  if (pl > 0 && load<u8>(pat + <usize>(pl - 1)) == 0x2e) pl--; // absolute form "example.com."
  if (pl <= 0) return 0;
  if (pl >= 2 && load<u8>(pat) == 0x2a && load<u8>(pat + 1) == 0x2e) {
    const suffix = pat + 2, sl = pl - 2;
    if (sl == 0 || indexOf(suffix, sl, 0x2a) >= 0) return 0;
    const dot = indexOf(host, hl, 0x2e);
    if (dot <= 0 || hl - dot - 1 != sl || !eqNoCase(host + <usize>(dot + 1), suffix, sl)) return 0;
    return indexOf(suffix, sl, 0x2e) < 0 ? -1 : 1; // "*.com": fewer than two labels after the wildcard
  }
  if (indexOf(pat, pl, 0x2a) >= 0) return 0; // "f*.example.com", "a.*.example.com": never
  return pl == hl && eqNoCase(pat, host, hl) ? 1 : 0;
}

/** Decimal octet of an IPv4 address: 0..255 without leading zeros. */
function parseIpv4(s: usize, n: i32, out: usize): bool {
  let part = 0, val = 0, digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? <i32>load<u8>(s + <usize>i) : 0x2e;
    if (c == 0x2e) {
      if (digits == 0 || part > 3) return false;
      store<u8>(out + <usize>part, <u8>val);
      part++;
      val = 0;
      digits = 0;
    } else {
      const d = c - 0x30;
      if (<u32>d > 9 || (digits == 1 && val == 0)) return false;
      val = val * 10 + d;
      digits++;
      if (val > 255) return false;
    }
  }
  return part == 4;
}

function hexVal(c: i32): i32 {
  if (<u32>(c - 0x30) <= 9) return c - 0x30;
  c |= 0x20;
  if (<u32>(c - 0x61) <= 5) return c - 0x61 + 10;
  return -1;
}

/** RFC 4291 2.2 text form (with "::" and a trailing dotted IPv4) into 16 bytes. */
function parseIpv6(s: usize, n: i32, out: usize): bool {
  let count = 0, gap = -1, i = 0;
  if (n >= 2 && load<u8>(s) == 0x3a && load<u8>(s + 1) == 0x3a) { gap = 0; i = 2; }
  while (i < n) {
    if (count == 8) return false;
    // a trailing dotted IPv4 fills the last two groups
    let segEnd = i;
    while (segEnd < n && load<u8>(s + <usize>segEnd) != 0x3a) segEnd++;
    if (segEnd == n && indexOf(s + <usize>i, n - i, 0x2e) >= 0) {
      if (count > 6 || !parseIpv4(s + <usize>i, n - i, out + <usize>(count * 2))) return false;
      count += 2;
      break;
    }
    let v = 0, d = 0;
    for (; i < segEnd; i++) {
      const h = hexVal(<i32>load<u8>(s + <usize>i));
      if (h < 0 || d == 4) return false;
      v = (v << 4) | h;
      d++;
    }
    if (d == 0) return false;
    store<u8>(out + <usize>(count * 2), <u8>(v >> 8));
    store<u8>(out + <usize>(count * 2 + 1), <u8>v);
    count++;
    if (i == n) break;
    i++; // ':'
    if (i < n && load<u8>(s + <usize>i) == 0x3a) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i == n) {
      return false; // a trailing single ':'
    }
  }
  if (gap < 0) return count == 8;
  if (count > 7) return false;
  // move the groups after the gap to the end, zero the gap
  const tail = (count - gap) * 2;
  memory.copy(out + <usize>(16 - tail), out + <usize>(gap * 2), <usize>tail);
  memory.fill(out + <usize>(gap * 2), 0, <usize>(16 - tail - gap * 2));
  return true;
}

/** Host (Server URI host or SNI) against the leaf: an IP literal (IPv4, or
 *  IPv6 with or without brackets) against SAN iPAddress entries; a DNS name
 *  against SAN dNSName entries, or against the subject CN only when the
 *  certificate has no SAN dNSName (RFC 6125 6.4.4). 0, WildcardTld or HostnameMismatch. */
export function x509MatchHost(c: Cert, host: usize, hostLen: i32): i32 {
  if (hostLen >= 2 && load<u8>(host) == 0x5b && load<u8>(host + <usize>(hostLen - 1)) == 0x5d) { host++; hostLen -= 2; }
  if (hostLen > 0 && load<u8>(host + <usize>(hostLen - 1)) == 0x2e) hostLen--;
  if (hostLen <= 0 || indexOf(host, hostLen, 0x2a) >= 0) return X509Error.HostnameMismatch;
  let ipLen = 0;
  if (indexOf(host, hostLen, 0x3a) >= 0) {
    if (!parseIpv6(host, hostLen, ipBuf)) return X509Error.HostnameMismatch;
    ipLen = 16;
  } else if (parseIpv4(host, hostLen, ipBuf)) {
    ipLen = 4;
  }
  const end = c.san + <usize>c.sanLen;
  let q = c.san;
  let tld = false;
  while (q < end) {
    if (derNext(q, end) < 0) return X509Error.Malformed; // checked by x509Parse
    q = derEnd;
    if (ipLen > 0) {
      if (derTag == (Tag.CONTEXT_PRIMITIVE | 7) && derLen == ipLen && bytesEqual(derVal, ipBuf, ipLen)) return 0;
    } else if (derTag == (Tag.CONTEXT_PRIMITIVE | 2)) {
      const m = dnsMatch(derVal, derLen, host, hostLen);
      if (m == 1) return 0;
      if (m < 0) tld = true;
    }
  }
  if (ipLen == 0 && !(c.flags & CertFlag.SAN_DNS) && c.cnLen > 0 &&
      (c.cnTag == Tag.UTF8_STRING || c.cnTag == Tag.PRINTABLE_STRING || c.cnTag == Tag.IA5_STRING)) {
    const m = dnsMatch(c.cn, c.cnLen, host, hostLen);
    if (m == 1) return 0;
    if (m < 0) tld = true;
  }
  return tld ? X509Error.WildcardTld : X509Error.HostnameMismatch;
}

// ---- raw public keys (RFC 7250) --------------------------------------------

/** The peer's SubjectPublicKeyInfo (from its RFC 7250 Certificate message)
 *  against the configured key (resource 4 in RPK mode: a SubjectPublicKeyInfo,
 *  a 65-byte uncompressed point, or 64 bytes X||Y): exact match of the point,
 *  then DTLS-8 (ownPub may be 0). 0 or an error. */
export function rpkVerify(peer: usize, peerLen: i32, configured: usize, configuredLen: i32, ownPub: usize): i32 {
  const off = x509ParseSpki(peer, peerLen);
  if (off < 0) return off;
  const point = peer + <usize>off;
  let want: usize;
  if (configuredLen == 64) {
    want = configured;
  } else if (configuredLen == 65 && load<u8>(configured) == 0x04) {
    want = configured + 1;
  } else {
    const o = x509ParseSpki(configured, configuredLen);
    if (o < 0) return o;
    want = configured + <usize>o + 1;
  }
  if (!bytesEqual(point + 1, want, 64)) return X509Error.RpkMismatch;
  return x509KeyNotOwn(point, ownPub);
}

