// AES-128 (FIPS-197), CBC (SP 800-38A), CCM (RFC 3610 / SP 800-38C) and the
// TLS 1.2 GenericBlockCipher record form (RFC 5246 6.2.3.2), tested against
// published vectors, sjcl's CCM vectors and node:crypto on random inputs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as vm from "node:vm";
import * as crypto from "node:crypto";
import { loadTest, unhex, hex, ROOT } from "./helpers/wasm";

// The test build may carry host imports (asconfig.json's firmware entry is
// compiled in too); none is reachable from the crypto code, so each stub throws.
const hostStub = new Proxy({}, { get: (_t, name) => () => { throw new Error(`host import ${String(name)} called`); } });
const m = loadTest("crypto_aes", { lwm2m_v1: hostStub as WebAssembly.ModuleImports });
const x = m.exports as any;
const AUTH: number = x.CRYPTO_ERR_AUTH.value;
const LENGTH: number = x.CRYPTO_ERR_LENGTH.value;
assert.equal(AUTH, -1);
assert.equal(LENGTH, -2);

const vectors = (name: string) => JSON.parse(readFileSync(join(__dirname, "vectors", name), "utf8"));

// ---- linear-memory arena inside the scratch area ----------------------------
const KS = m.scratch; // key schedule (176 bytes)
let top = 0;
function reset() { top = m.scratch + 256; }
function alloc(len: number): number {
  const p = top;
  top += (len + 31) & ~15;
  assert.ok(top - m.scratch <= x.scratchSize(), "scratch overflow");
  return p;
}
function put(bytes: Uint8Array): number {
  const p = alloc(bytes.length);
  m.write(bytes, p);
  return p;
}
function setKey(key: Uint8Array) {
  reset();
  x.aes128ExpandKey(KS, put(key));
}

// ---- seeded PRNG (xorshift128+ on BigInt-free 32-bit halves: mulberry32) ----
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n: number) => Math.floor(next() * n),
    bytes(n: number) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
  };
}
const SEED = Number(process.env.AES_TEST_SEED ?? 0x5eed_ae5);
console.log(`# crypto-aes PRNG seed ${SEED} (set AES_TEST_SEED to reproduce)`);

// ---- wrappers ----------------------------------------------------------------
function ccmSeal(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, tagLen: number) {
  reset();
  const np = put(nonce), ap = put(aad), pp = put(pt), out = alloc(pt.length + 16);
  const r = x.ccmSeal(KS, np, nonce.length, ap, aad.length, pp, pt.length, out, tagLen);
  return { r, out: r >= 0 ? m.read(out, r) : new Uint8Array(0) };
}
/** Open into an output area pre-filled with 0xa5 (to see that failures wipe it). */
function ccmOpen(nonce: Uint8Array, aad: Uint8Array, input: Uint8Array, tagLen: number) {
  reset();
  const np = put(nonce), ap = put(aad), ip = put(input), out = alloc(input.length + 16);
  m.write(new Uint8Array(input.length).fill(0xa5), out);
  const r = x.ccmOpen(KS, np, nonce.length, ap, aad.length, ip, input.length, out, tagLen);
  return { r, out: m.read(out, Math.max(0, input.length - tagLen)) };
}
const concat = (...a: Uint8Array[]) => new Uint8Array(Buffer.concat(a));
function flipBit(b: Uint8Array, bit: number) {
  const c = b.slice();
  c[bit >> 3] ^= 1 << (bit & 7);
  return c;
}

function nodeCcm(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, tagLen: number) {
  const c = crypto.createCipheriv("aes-128-ccm" as any, key, nonce, { authTagLength: tagLen } as any) as crypto.CipherCCM;
  c.setAAD(aad, { plaintextLength: pt.length });
  const ct = Buffer.concat([c.update(pt), c.final()]);
  return concat(ct, c.getAuthTag());
}
function nodeCbc(key: Uint8Array, iv: Uint8Array, pt: Uint8Array, decrypt = false) {
  const c = decrypt ? crypto.createDecipheriv("aes-128-cbc", key, iv) : crypto.createCipheriv("aes-128-cbc", key, iv);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(pt), c.final()]));
}

/** Every CCM vector: seal matches in full, open recovers the plaintext, and
 *  a one-bit change to ciphertext, tag or aad fails with the output wiped. */
function checkCcmVector(label: string, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array,
  pt: Uint8Array, ct: Uint8Array, tag: Uint8Array, rnd: ReturnType<typeof prng>) {
  setKey(key);
  const expected = concat(ct, tag);
  const s = ccmSeal(nonce, aad, pt, tag.length);
  assert.equal(s.r, pt.length + tag.length, `${label}: seal length`);
  assert.equal(hex(s.out), hex(expected), `${label}: seal`);
  const o = ccmOpen(nonce, aad, expected, tag.length);
  assert.equal(o.r, pt.length, `${label}: open`);
  assert.equal(hex(o.out), hex(pt), `${label}: open plaintext`);
  const zero = hex(new Uint8Array(pt.length));
  const tampered: [string, Uint8Array, Uint8Array][] = [
    ["tag", aad, flipBit(expected, ct.length * 8 + rnd.int(tag.length * 8))],
  ];
  if (ct.length) tampered.push(["ciphertext", aad, flipBit(expected, rnd.int(ct.length * 8))]);
  if (aad.length) tampered.push(["aad", flipBit(aad, rnd.int(aad.length * 8)), expected]);
  for (const [what, a, input] of tampered) {
    const t = ccmOpen(nonce, a, input, tag.length);
    assert.equal(t.r, AUTH, `${label}: flipped ${what} bit accepted`);
    assert.equal(hex(t.out), zero, `${label}: output not wiped after ${what} failure`);
  }
  // a wrong nonce also fails
  const t = ccmOpen(flipBit(nonce, rnd.int(nonce.length * 8)), aad, expected, tag.length);
  assert.equal(t.r, AUTH, `${label}: flipped nonce bit accepted`);
}

// ---- AES block cipher ----------------------------------------------------------
test("FIPS-197 Appendix B and C.1 (AES-128), both directions, in place", () => {
  const f = vectors("fips197.json");
  for (const v of f.cipher) {
    setKey(unhex(v.key));
    const buf = put(unhex(v.plaintext)), out = alloc(16);
    x.aes128EncryptBlock(KS, buf, out);
    assert.equal(hex(m.read(out, 16)), v.ciphertext, v.name);
    x.aes128DecryptBlock(KS, out, out);
    assert.equal(hex(m.read(out, 16)), v.plaintext, v.name + " (decrypt in place)");
    x.aes128EncryptBlock(KS, buf, buf);
    assert.equal(hex(m.read(buf, 16)), v.ciphertext, v.name + " (encrypt in place)");
  }
});

test("FIPS-197 Appendix A.1 key expansion words", () => {
  const f = vectors("fips197.json");
  assert.equal(x.AES128_KEY_SCHEDULE_SIZE.value, 176);
  for (const v of f.keyExpansion) {
    setKey(unhex(v.key));
    const ks = m.read(KS, 176);
    assert.equal(hex(ks.subarray(0, 16)), v.key);
    for (const [i, w] of Object.entries(v.words)) {
      assert.equal(hex(ks.subarray(Number(i) * 4, Number(i) * 4 + 4)), w, `w[${i}]`);
    }
  }
});

test("SP 800-38A F.1 ECB-AES128 and F.2.1/F.2.2 CBC-AES128", () => {
  const s = vectors("sp800-38a.json");
  const pt = unhex(s.plaintext.join(""));
  setKey(unhex(s.key));
  const p = put(pt), out = alloc(64);
  for (let i = 0; i < 4; i++) x.aes128EncryptBlock(KS, p + 16 * i, out + 16 * i);
  assert.equal(hex(m.read(out, 64)), s.ecb.ciphertext.join(""), s.ecb.name);
  for (let i = 0; i < 4; i++) x.aes128DecryptBlock(KS, out + 16 * i, out + 16 * i);
  assert.equal(hex(m.read(out, 64)), hex(pt));

  const iv = put(unhex(s.cbc.iv));
  assert.equal(x.cbcEncrypt(KS, iv, p, 64, out), 64);
  assert.equal(hex(m.read(out, 64)), s.cbc.ciphertext.join(""), s.cbc.name);
  assert.equal(x.cbcDecrypt(KS, iv, out, 64, out), 64); // in place
  assert.equal(hex(m.read(out, 64)), hex(pt));
  assert.equal(x.cbcEncrypt(KS, iv, p, 64, p), 64); // in place
  assert.equal(hex(m.read(p, 64)), s.cbc.ciphertext.join(""));
  // lengths that are not whole blocks are refused, nothing written
  for (const bad of [-16, -1, 1, 15, 17, 63]) {
    assert.equal(x.cbcEncrypt(KS, iv, p, bad, out), LENGTH);
    assert.equal(x.cbcDecrypt(KS, iv, p, bad, out), LENGTH);
  }
  assert.equal(x.cbcEncrypt(KS, iv, p, 0, out), 0);
});

test("differential: aes-128-ecb blocks vs node:crypto", () => {
  const rnd = prng(SEED + 1);
  for (let k = 0; k < 40; k++) {
    const key = rnd.bytes(16);
    setKey(key);
    const pt = rnd.bytes(16 * 64);
    const p = put(pt), out = alloc(pt.length), back = alloc(pt.length);
    for (let i = 0; i < 64; i++) {
      x.aes128EncryptBlock(KS, p + 16 * i, out + 16 * i);
      x.aes128DecryptBlock(KS, out + 16 * i, back + 16 * i);
    }
    const e = crypto.createCipheriv("aes-128-ecb", key, null);
    e.setAutoPadding(false);
    assert.equal(hex(m.read(out, pt.length)), hex(e.update(pt)), `key ${hex(key)}`);
    assert.equal(hex(m.read(back, pt.length)), hex(pt));
  }
});

test("differential: aes-128-cbc (no padding) vs node:crypto", () => {
  const rnd = prng(SEED + 2);
  for (let k = 0; k < 1000; k++) {
    const key = rnd.bytes(16), iv = rnd.bytes(16), pt = rnd.bytes(16 * rnd.int(40));
    setKey(key);
    const ivp = put(iv), p = put(pt), out = alloc(pt.length), back = alloc(pt.length);
    assert.equal(x.cbcEncrypt(KS, ivp, p, pt.length, out), pt.length);
    const expected = nodeCbc(key, iv, pt);
    assert.equal(hex(m.read(out, pt.length)), hex(expected), `key ${hex(key)} iv ${hex(iv)} pt ${hex(pt)}`);
    assert.equal(x.cbcDecrypt(KS, ivp, out, pt.length, back), pt.length);
    assert.equal(hex(m.read(back, pt.length)), hex(pt));
  }
});

// ---- CCM -------------------------------------------------------------------------
test("RFC 3610 packet vectors #1-#24", () => {
  const r = vectors("rfc3610.json");
  assert.equal(r.vectors.length, 24);
  const rnd = prng(SEED + 3);
  for (const v of r.vectors) {
    checkCcmVector(`RFC 3610 #${v.packetVector}`, unhex(v.key), unhex(v.nonce), unhex(v.aad),
      unhex(v.plaintext), unhex(v.ciphertext), unhex(v.tag), rnd);
  }
});

test("SP 800-38C Appendix C examples 1-4 (7..13-byte nonces, 4..14-byte tags, 64 KiB aad)", () => {
  const s = vectors("sp800-38c.json");
  const rnd = prng(SEED + 4);
  for (const v of s.examples) {
    const aad = v.aad !== undefined ? unhex(v.aad) : Uint8Array.from({ length: v.aadLen }, (_, i) => i & 255);
    checkCcmVector(v.name, unhex(v.key), unhex(v.nonce), aad, unhex(v.plaintext), unhex(v.ciphertext), unhex(v.tag), rnd);
  }
});

test("sjcl CCM vectors (AES-128 keys) from node_modules/sjcl/test/ccm_vectors.js", () => {
  const ctx: any = { sjcl: { test: { vector: {} } } };
  vm.runInNewContext(readFileSync(join(ROOT, "node_modules/sjcl/test/ccm_vectors.js"), "utf8"), ctx);
  const all: any[] = ctx.sjcl.test.vector.ccm;
  // 16-byte keys; every nonce (8, 12, 13) and tag length (8, 10, 16) there is supported
  const ours = all.filter((v) => v.key.length === 32 && v.iv.length >= 14 && v.iv.length <= 26
    && v.tag.length >= 8 && v.tag.length <= 32 && v.tag.length % 4 === 0);
  assert.ok(ours.length >= 500, `only ${ours.length} sjcl vectors`);
  const rnd = prng(SEED + 5);
  ours.forEach((v, i) => checkCcmVector(`sjcl ccm #${i}`, unhex(v.key), unhex(v.iv), unhex(v.adata),
    unhex(v.pt), unhex(v.ct), unhex(v.tag), rnd));
});

test("differential: aes-128-ccm vs node:crypto (CCM_8 12-byte nonce, 16-byte tag 13-byte nonce, mixed)", () => {
  const rnd = prng(SEED + 6);
  const configs: [number, number, number][] = [[12, 8, 1200], [13, 16, 1200], [0, 0, 800]];
  for (const [nl, tl, count] of configs) {
    for (let k = 0; k < count; k++) {
      const nonceLen = nl || 7 + rnd.int(7);
      const tagLen = tl || 4 + 2 * rnd.int(7);
      const key = rnd.bytes(16), nonce = rnd.bytes(nonceLen);
      const aad = rnd.bytes(rnd.int(65)), pt = rnd.bytes(rnd.int(601));
      setKey(key);
      const expected = nodeCcm(key, nonce, aad, pt, tagLen);
      const s = ccmSeal(nonce, aad, pt, tagLen);
      const what = `nonce ${hex(nonce)} tag ${tagLen} key ${hex(key)} aad ${hex(aad)} pt ${hex(pt)}`;
      assert.equal(hex(s.out), hex(expected), what);
      const o = ccmOpen(nonce, aad, expected, tagLen);
      assert.equal(o.r, pt.length, what);
      assert.equal(hex(o.out), hex(pt), what);
      if (k % 8 === 0) {
        const bad = flipBit(expected, rnd.int(expected.length * 8));
        const t = ccmOpen(nonce, aad, bad, tagLen);
        assert.equal(t.r, AUTH, what);
        assert.equal(hex(t.out), hex(new Uint8Array(pt.length)), what);
      }
    }
  }
});

test("CCM in place (out == input) for seal and open", () => {
  const rnd = prng(SEED + 7);
  for (let k = 0; k < 100; k++) {
    const key = rnd.bytes(16), nonce = rnd.bytes(12), aad = rnd.bytes(13), pt = rnd.bytes(rnd.int(100));
    setKey(key);
    const np = put(nonce), ap = put(aad), buf = alloc(pt.length + 16);
    m.write(pt, buf);
    assert.equal(x.ccmSeal(KS, np, 12, ap, 13, buf, pt.length, buf, 8), pt.length + 8);
    assert.equal(hex(m.read(buf, pt.length + 8)), hex(nodeCcm(key, nonce, aad, pt, 8)));
    assert.equal(x.ccmOpen(KS, np, 12, ap, 13, buf, pt.length + 8, buf, 8), pt.length);
    assert.equal(hex(m.read(buf, pt.length)), hex(pt));
  }
});

test("CCM parameter checks return CRYPTO_ERR_LENGTH and leave out untouched", () => {
  setKey(new Uint8Array(16));
  const nonce = put(new Uint8Array(16)), aad = put(new Uint8Array(16)), pt = put(new Uint8Array(64));
  const out = alloc(128);
  const untouched = () => assert.equal(hex(m.read(out, 128)), "ee".repeat(128));
  const cases: [number, number, number, number][] = [
    // nonceLen, aadLen, len, tagLen
    [6, 0, 16, 8], [14, 0, 16, 8], [0, 0, 16, 8], [-1, 0, 16, 8],
    [12, 0, 16, 2], [12, 0, 16, 3], [12, 0, 16, 5], [12, 0, 16, 15], [12, 0, 16, 18], [12, 0, 16, 0], [12, 0, 16, -8],
    [12, -1, 16, 8], [12, 0, -1, 8], [12, 0, 0x7fffffff, 8],
  ];
  for (const [nl, al, len, tl] of cases) {
    m.write(new Uint8Array(128).fill(0xee), out);
    assert.equal(x.ccmSeal(KS, nonce, nl, aad, al, pt, len, out, tl), LENGTH, `seal ${nl}/${al}/${len}/${tl}`);
    untouched();
    assert.equal(x.ccmOpen(KS, nonce, nl, aad, al, pt, len, out, tl), LENGTH, `open ${nl}/${al}/${len}/${tl}`);
    untouched();
  }
  // open: input shorter than the tag
  m.write(new Uint8Array(128).fill(0xee), out);
  for (const inLen of [-0x80000000, -1, 0, 7]) assert.equal(x.ccmOpen(KS, nonce, 12, aad, 0, pt, inLen, out, 8), LENGTH);
  untouched();
  // an empty message with an 8-byte tag is fine
  assert.equal(x.ccmSeal(KS, nonce, 12, aad, 0, pt, 0, out, 8), 8);
});

test("CCM length field bound for L = 2 (13-byte nonce): 65535 ok, 65536 refused", () => {
  const rnd = prng(SEED + 8);
  const key = rnd.bytes(16), nonce = rnd.bytes(13), aad = rnd.bytes(3);
  setKey(key);
  const big = rnd.bytes(65535);
  const s = ccmSeal(nonce, aad, big, 8);
  assert.equal(s.r, 65535 + 8);
  assert.equal(hex(s.out), hex(nodeCcm(key, nonce, aad, big, 8)));
  reset();
  const np = put(nonce), ap = put(aad), p = put(concat(big, new Uint8Array(1)));
  assert.equal(x.ccmSeal(KS, np, 13, ap, 3, p, 65536, alloc(65536 + 16), 8), LENGTH);
  // L = 3 (12-byte nonce) takes 65536
  const n12 = rnd.bytes(12), pt = concat(big, new Uint8Array([7]));
  const s12 = ccmSeal(n12, aad, pt, 16);
  assert.equal(hex(s12.out), hex(nodeCcm(key, n12, aad, pt, 16)));
});

// ---- TLS 1.2 GenericBlockCipher --------------------------------------------------
const tlsHeader = (seq: Uint8Array, type: number, len: number) =>
  concat(seq, new Uint8Array([type, 3, 3, len >> 8, len & 255]));

/** The record as RFC 5246 6.2.3.2 builds it, with node:crypto, and any padding. */
function nodeTlsRecord(key: Uint8Array, macKey: Uint8Array, iv: Uint8Array, header: Uint8Array,
  fragment: Uint8Array, padLen?: number, mutate?: (body: Uint8Array) => void) {
  const mac = crypto.createHmac("sha256", macKey).update(header).update(fragment).digest();
  const minPad = (16 - ((fragment.length + 33) % 16)) % 16;
  const p = padLen ?? minPad;
  const body = concat(fragment, mac, new Uint8Array(p + 1).fill(p));
  mutate?.(body);
  return concat(iv, nodeCbc(key, iv, body));
}

function tlsSeal(macKey: Uint8Array, iv: Uint8Array, header: Uint8Array, fragment: Uint8Array) {
  reset();
  const mk = put(macKey), ivp = put(iv), hp = put(header), fp = put(fragment);
  const out = alloc(fragment.length + 64);
  const r = x.tlsCbcSeal(KS, mk, macKey.length, ivp, hp, fp, fragment.length, out);
  return { r, out: r > 0 ? m.read(out, r) : new Uint8Array(0), header: m.read(hp, 13) };
}
function tlsOpen(macKey: Uint8Array, header: Uint8Array, record: Uint8Array) {
  reset();
  const mk = put(macKey), hp = put(header), ip = put(record);
  const out = alloc(record.length);
  m.write(new Uint8Array(record.length).fill(0xa5), out);
  const r = x.tlsCbcOpen(KS, mk, macKey.length, hp, ip, record.length, out);
  return { r, out: m.read(out, Math.max(0, record.length - 16)), plain: r >= 0 ? m.read(out, r) : null, header: m.read(hp, 13) };
}

test("tlsCbcSeal matches the record built with node:crypto; tlsCbcOpen round-trips", () => {
  const rnd = prng(SEED + 9);
  const lengths = [...Array.from({ length: 80 }, (_, i) => i), 255, 256, 1000, 16384];
  for (let k = 0; k < 400; k++) {
    const len = k < lengths.length ? lengths[k] : rnd.int(1500);
    const key = rnd.bytes(16), macKey = rnd.bytes(32), iv = rnd.bytes(16);
    const seq = rnd.bytes(8), type = 20 + rnd.int(4);
    const fragment = rnd.bytes(len);
    setKey(key);
    const expected = nodeTlsRecord(key, macKey, iv, tlsHeader(seq, type, len), fragment);
    // the header's length field is filled in by seal: pass garbage there
    const s = tlsSeal(macKey, iv, tlsHeader(seq, type, 0xffff), fragment);
    assert.equal(s.r, expected.length, `len ${len}`);
    assert.equal(x.tlsCbcSealedLength(len), expected.length);
    assert.equal(hex(s.out), hex(expected), `len ${len} key ${hex(key)} mac ${hex(macKey)} iv ${hex(iv)}`);
    assert.equal(hex(s.header), hex(tlsHeader(seq, type, len)));
    const o = tlsOpen(macKey, tlsHeader(seq, type, 0), expected);
    assert.equal(o.r, len, `open len ${len}`);
    assert.equal(hex(o.plain!), hex(fragment));
    assert.equal(hex(o.header), hex(tlsHeader(seq, type, len)), "open fills in the length field");
  }
});

test("tlsCbcSeal in place (fragment at out + 16, iv at out) and tlsCbcOpen in place", () => {
  const rnd = prng(SEED + 10);
  for (let k = 0; k < 50; k++) {
    const len = rnd.int(300);
    const key = rnd.bytes(16), macKey = rnd.bytes(32), iv = rnd.bytes(16), seq = rnd.bytes(8);
    const fragment = rnd.bytes(len);
    setKey(key);
    const mk = put(macKey), hp = put(tlsHeader(seq, 23, 0)), out = alloc(len + 64);
    m.write(iv, out);
    m.write(fragment, out + 16);
    const r = x.tlsCbcSeal(KS, mk, 32, out, hp, out + 16, len, out);
    const expected = nodeTlsRecord(key, macKey, iv, tlsHeader(seq, 23, len), fragment);
    assert.equal(hex(m.read(out, r)), hex(expected));
    const r2 = x.tlsCbcOpen(KS, mk, 32, hp, out, r, out + 16);
    assert.equal(r2, len);
    assert.equal(hex(m.read(out + 16, len)), hex(fragment));
  }
});

test("tlsCbcOpen accepts every valid (non-minimal) padding length up to 255", () => {
  const rnd = prng(SEED + 11);
  const key = rnd.bytes(16), macKey = rnd.bytes(32), seq = rnd.bytes(8);
  setKey(key);
  for (let len = 0; len < 40; len += 3) {
    const fragment = rnd.bytes(len);
    const minPad = (16 - ((len + 33) % 16)) % 16;
    for (let pad = minPad; pad <= 255; pad += 16) {
      const rec = nodeTlsRecord(key, macKey, rnd.bytes(16), tlsHeader(seq, 23, len), fragment, pad);
      const o = tlsOpen(macKey, tlsHeader(seq, 23, 0), rec);
      assert.equal(o.r, len, `len ${len} pad ${pad}`);
      assert.equal(hex(o.plain!), hex(fragment));
    }
  }
});

test("tlsCbcOpen: every bad padding, bad length and bad MAC gives the same error, output wiped, no trap", () => {
  const rnd = prng(SEED + 12);
  const key = rnd.bytes(16), macKey = rnd.bytes(32), seq = rnd.bytes(8);
  setKey(key);
  const hdr = (len: number) => tlsHeader(seq, 23, len);
  const rejects = (rec: Uint8Array, what: string, header = hdr(0)) => {
    const o = tlsOpen(macKey, header, rec);
    assert.equal(o.r, AUTH, what);
    // no plaintext escapes: wiped, or (length rejected before decrypting) untouched
    const h = hex(o.out);
    assert.ok(h === "00".repeat(o.out.length) || h === "a5".repeat(o.out.length), `${what}: output ${h}`);
  };
  const MAC = 32;
  for (const len of [0, 1, 15, 16, 30, 47, 100, 300]) {
    const fragment = rnd.bytes(len);
    const minPad = (16 - ((len + 33) % 16)) % 16;
    for (const pad of [minPad, minPad + 16, minPad + 240 <= 255 ? minPad + 240 : minPad + 224]) {
      // wrong value in each padding byte position (not the padding_length byte)
      for (let j = 0; j < pad; j++) {
        for (const delta of [1, 0x80, 0xff]) {
          const rec = nodeTlsRecord(key, macKey, rnd.bytes(16), hdr(len), fragment, pad, (b) => {
            b[len + MAC + j] ^= delta;
          });
          rejects(rec, `len ${len} pad ${pad}: byte ${j} ^ ${delta}`);
        }
      }
      // padding_length byte changed (the rest still says pad): mismatch or MAC mismatch
      for (const v of [pad - 1, pad + 1, 255, 0]) {
        if (v < 0 || v === pad) continue;
        const rec = nodeTlsRecord(key, macKey, rnd.bytes(16), hdr(len), fragment, pad, (b) => {
          b[b.length - 1] = v;
        });
        rejects(rec, `len ${len} pad ${pad}: padding_length ${v}`);
      }
    }
    // padding longer than the record can hold: every padding byte consistent
    const body = concat(fragment, new Uint8Array(MAC), new Uint8Array(minPad + 1));
    const over = Math.min(255, body.length - MAC); // padLen + 1 + 32 > n
    const rec = concat(new Uint8Array(16), nodeCbc(key, new Uint8Array(16), body.fill(over, 0)));
    rejects(rec, `len ${len}: padding_length ${over} > available`);
    const rec255 = concat(new Uint8Array(16), nodeCbc(key, new Uint8Array(16), body.fill(255)));
    rejects(rec255, `len ${len}: all bytes 255`);

    const good = nodeTlsRecord(key, macKey, rnd.bytes(16), hdr(len), fragment);
    assert.equal(tlsOpen(macKey, hdr(0), good).r, len);
    // bad MAC: one bit of the MAC, of the content, of the header (seq, type, version)
    for (let t = 0; t < 8; t++) {
      const bit = rnd.int(MAC * 8);
      rejects(nodeTlsRecord(key, macKey, rnd.bytes(16), hdr(len), fragment, minPad, (b) => {
        b[len + (bit >> 3)] ^= 1 << (bit & 7);
      }), `len ${len}: MAC bit ${bit}`);
    }
    if (len) {
      rejects(nodeTlsRecord(key, macKey, rnd.bytes(16), hdr(len), fragment, minPad, (b) => { b[rnd.int(len)] ^= 4; }),
        `len ${len}: content bit`);
    }
    rejects(good, `len ${len}: other seq`, tlsHeader(flipBit(seq, rnd.int(64)), 23, 0));
    rejects(good, `len ${len}: other type`, tlsHeader(seq, 22, 0));
    const wrongVersion = hdr(0); wrongVersion[10] ^= 1;
    rejects(good, `len ${len}: other version`, wrongVersion);
    // a ciphertext bit anywhere
    rejects(flipBit(good, 128 + rnd.int((good.length - 16) * 8)), `len ${len}: ciphertext bit`);
    // truncated / extended records: not a multiple of 16, or dropping blocks
    for (const cut of [1, 15, 16, 17]) {
      if (good.length - cut > 0) rejects(good.subarray(0, good.length - cut), `len ${len}: cut ${cut}`);
    }
    rejects(concat(good, rnd.bytes(1)), `len ${len}: one extra byte`);
    rejects(concat(good, rnd.bytes(16)), `len ${len}: one extra block`);
  }
  // too short for IV + MAC + padding_length, and empty
  for (const n of [0, 1, 15, 16, 17, 32, 48, 63]) rejects(rnd.bytes(n), `short ${n}`);
  // a valid-MAC record with wrong MAC key
  const fragment = rnd.bytes(20);
  const good = nodeTlsRecord(key, macKey, rnd.bytes(16), hdr(20), fragment);
  const mk2 = flipBit(macKey, 5);
  const o = tlsOpen(mk2, hdr(0), good);
  assert.equal(o.r, AUTH);
  // oversize: record_overflow (CRYPTO_ERR_LENGTH), checked before decryption
  const big = rnd.bytes(16384 + 2048 + 16);
  assert.equal(tlsOpen(macKey, hdr(0), big).r, LENGTH);
});

test("tlsCbcOpen never traps on random records; tlsCbcSeal refuses bad lengths", () => {
  const rnd = prng(SEED + 13);
  const key = rnd.bytes(16), macKey = rnd.bytes(32);
  setKey(key);
  for (let k = 0; k < 2000; k++) {
    const rec = rnd.bytes(rnd.int(8) === 0 ? rnd.int(80) : 16 * (4 + rnd.int(30)));
    const r = tlsOpen(macKey, rnd.bytes(13), rec).r;
    assert.equal(r, AUTH, `record ${hex(rec)}`);
  }
  const mk = put(macKey), iv = put(rnd.bytes(16)), hp = put(new Uint8Array(13)), fp = put(new Uint8Array(16)), out = alloc(64);
  for (const len of [-1, 16385, 0x7fffffff]) {
    assert.equal(x.tlsCbcSeal(KS, mk, 32, iv, hp, fp, len, out), LENGTH);
  }
});
