// Test entry for asn1/der.ts and x509/*: thin wrappers over pointer+length APIs.
export { scratch, scratchSize } from "./_scratch";
import {
  derNext, derTime, derInteger, derSmallUint, derBoolean, derBitString, derPut, derPutUnsigned,
  derTag, derVal, derLen, derEnd, derSeconds,
} from "../asn1/der";
import { Cert, CERT_SIZE, x509Parse, x509ParseSpki } from "../x509/cert";
import {
  X509_WORK_SIZE, MAX_CHAIN, BUILD_TIME_LOWER_BOUND, ecdsaSigToRaw, ecdsaRawToDer, x509VerifySignedBy,
  x509CheckTime, x509CheckPurpose, x509VerifyChain,
} from "../x509/verify";
import { TrustConfig, TRUST_CONFIG_SIZE, lwm2mVerifyServer, x509MatchHost, rpkVerify, x509KeyNotOwn } from "../x509/trust";

export function certSize(): i32 { return CERT_SIZE; }
export function workSize(): i32 { return X509_WORK_SIZE; }
export function trustConfigSize(): i32 { return TRUST_CONFIG_SIZE; }
export function maxChain(): i32 { return MAX_CHAIN; }
export function buildTimeLowerBound(): i64 { return BUILD_TIME_LOWER_BOUND; }

// ---- DER -------------------------------------------------------------------
/** One TLV: returns the status; out = [tag, valOff, len, endOff] (i32, offsets from p). */
export function tlv(p: usize, len: i32, out: usize): i32 {
  const r = derNext(p, p + <usize>len);
  if (r == 0) {
    store<i32>(out, derTag); store<i32>(out, <i32>(derVal - p), 4);
    store<i32>(out, derLen, 8); store<i32>(out, <i32>(derEnd - p), 12);
  }
  return r;
}
export function time(p: usize, len: i32, out: usize): i32 {
  const r = derTime(p, p + <usize>len);
  if (r == 0) store<i64>(out, derSeconds);
  return r;
}
export function integer(p: usize, len: i32): i32 { return derInteger(p, p + <usize>len); }
export function smallUint(p: usize, len: i32): i32 { return derSmallUint(p, p + <usize>len); }
export function boolean(p: usize, len: i32): i32 { return derBoolean(p, p + <usize>len); }
export function bitString(p: usize, len: i32): i32 { return derBitString(p, p + <usize>len); }
export function put(out: usize, cap: i32, tag: i32, val: usize, len: i32): i32 { return derPut(out, cap, tag, val, len); }
export function putUnsigned(out: usize, cap: i32, mag: usize, len: i32): i32 { return derPutUnsigned(out, cap, mag, len); }
export function sigToRaw(sig: usize, len: i32, out: usize): i32 { return ecdsaSigToRaw(sig, len, out); }
export function rawToDer(rs: usize, out: usize, cap: i32): i32 { return ecdsaRawToDer(rs, out, cap); }

// ---- certificates ------------------------------------------------------------
export function parse(der: usize, len: i32, c: usize): i32 { return x509Parse(der, len, changetype<Cert>(c)); }
export function parseSpki(p: usize, len: i32): i32 { return x509ParseSpki(p, len); }

/** Fields of a parsed Cert as offsets from c.der (-1 when absent):
 *  i32[0..18) = tbs, tbsLen, serial, serialLen, issuer, issuerLen, subject, subjectLen,
 *  spki, spkiLen, pub, sig, sigLen, san, sanLen, cn, cnLen, cnTag; i32[18..21) = flags,
 *  keyUsage, pathLen; i64 at byte 88 notBefore, 96 notAfter. */
export function dump(cp: usize, out: usize): void {
  const c = changetype<Cert>(cp);
  const b = c.der;
  store<i32>(out, <i32>(c.tbs - b), 0); store<i32>(out, c.tbsLen, 4);
  store<i32>(out, <i32>(c.serial - b), 8); store<i32>(out, c.serialLen, 12);
  store<i32>(out, <i32>(c.issuer - b), 16); store<i32>(out, c.issuerLen, 20);
  store<i32>(out, <i32>(c.subject - b), 24); store<i32>(out, c.subjectLen, 28);
  store<i32>(out, <i32>(c.spki - b), 32); store<i32>(out, c.spkiLen, 36);
  store<i32>(out, <i32>(c.pub - b), 40);
  store<i32>(out, <i32>(c.sig - b), 44); store<i32>(out, c.sigLen, 48);
  store<i32>(out, c.sanLen ? <i32>(c.san - b) : -1, 52); store<i32>(out, c.sanLen, 56);
  store<i32>(out, c.cnLen ? <i32>(c.cn - b) : -1, 60); store<i32>(out, c.cnLen, 64); store<i32>(out, c.cnTag, 68);
  store<i32>(out, c.flags, 72); store<i32>(out, c.keyUsage, 76); store<i32>(out, c.pathLen, 80);
  store<i64>(out, c.notBefore, 88); store<i64>(out, c.notAfter, 96);
}

/** SAN entries as i32 triplets (tag, offset from c.der, length); returns the count or an error. */
export function sanList(cp: usize, out: usize, max: i32): i32 {
  const c = changetype<Cert>(cp);
  const end = c.san + <usize>c.sanLen;
  let q = c.san, n = 0;
  while (q < end && n < max) {
    const r = derNext(q, end);
    if (r < 0) return r;
    store<i32>(out + <usize>(n * 12), derTag);
    store<i32>(out + <usize>(n * 12 + 4), <i32>(derVal - c.der));
    store<i32>(out + <usize>(n * 12 + 8), derLen);
    n++;
    q = derEnd;
  }
  return n;
}

export function verifySignedBy(c: usize, issuerPub: usize): i32 { return x509VerifySignedBy(changetype<Cert>(c), issuerPub); }
export function checkTime(c: usize, now: i64, flags: i32): i32 { return x509CheckTime(changetype<Cert>(c), now, flags); }
export function checkPurpose(c: usize, flags: i32): i32 { return x509CheckPurpose(changetype<Cert>(c), flags); }
export function verifyChain(list: usize, count: i32, anchor: usize, anchorLen: i32, now: i64, flags: i32, work: usize): i32 {
  return x509VerifyChain(list, count, anchor, anchorLen, now, flags, work);
}
export function matchHost(c: usize, host: usize, hostLen: i32): i32 { return x509MatchHost(changetype<Cert>(c), host, hostLen); }
export function rpk(peer: usize, peerLen: i32, conf: usize, confLen: i32, own: usize): i32 { return rpkVerify(peer, peerLen, conf, confLen, own); }
export function keyNotOwn(peer: usize, own: usize): i32 { return x509KeyNotOwn(peer, own); }

export function trustConfig(
  p: usize, usage: i32, matching: i32, key: usize, keyLen: i32, host: usize, hostLen: i32,
  store: usize, storeCount: i32, ownPub: usize, flags: i32,
): void {
  const t = changetype<TrustConfig>(p);
  t.usage = usage; t.matching = matching; t.serverKey = key; t.serverKeyLen = keyLen;
  t.host = host; t.hostLen = hostLen; t.store = store; t.storeCount = storeCount;
  t.ownPub = ownPub; t.flags = flags;
}
export function verifyServer(cfg: usize, list: usize, count: i32, now: i64, work: usize): i32 {
  return lwm2mVerifyServer(changetype<TrustConfig>(cfg), list, count, now, work);
}
