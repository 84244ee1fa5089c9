// Fuzz: mutated OpenSSL certificates, mutated SubjectPublicKeyInfos and
// signatures, random DER and random host names through the DER reader, the
// X.509 parser, path validation, the LwM2M trust decision and the RPK check.
// Zero traps allowed, and every result is 0/positive or a known error code.
// FUZZ_ITERATIONS (default 10000), FUZZ_SEED to reproduce.
// @needs x509
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadTest, hex, ROOT, testModulePath, type TestModule } from "./helpers/wasm";
import { Pki } from "./helpers/certs";

const ITER = Number(process.env.FUZZ_ITERATIONS ?? 10000);
const SEED = Number(process.env.FUZZ_SEED ?? (Date.now() & 0x7fffffff));
console.log(`fuzz-x509: seed ${SEED}, ${ITER} iterations (FUZZ_SEED=${SEED} to reproduce)`);

const KNOWN = new Set<number>(Array.from({ length: 30 }, (_, i) => -100 - i)); // X509Error -100..-129

// mulberry32
let state = SEED >>> 0;
function rnd(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
}
const ri = (n: number) => Math.floor(rnd() * n);
const pick = <T>(a: T[]): T => a[ri(a.length)];
const bytes = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = ri(256); return b; };

// ---- module: se_verify_digest checks its arguments and says "valid" half the time --
let m!: TestModule;
function load(): TestModule {
  const bin = readFileSync(testModulePath("x509"));
  const lw: Record<string, (...a: any[]) => any> = {};
  for (const imp of WebAssembly.Module.imports(new WebAssembly.Module(bin))) {
    if (imp.module === "lwm2m_v1" && imp.kind === "function") lw[imp.name] = () => 0;
  }
  lw.se_verify_digest = (pub: number, pubLen: number, digest: number, sig: number) => {
    const size = m.mem().length;
    if (pubLen !== 65 || pub + 65 > size || digest + 32 > size || sig + 64 > size) throw new Error("se_verify_digest: argument out of range");
    return m.mem()[digest] & 1 ? -4 : 0; // lets path validation go past signatures
  };
  return (m = loadTest("x509", { lwm2m_v1: lw }));
}
load();
const x = m.exports as any;
const S = m.scratch;
const CERT_SIZE: number = x.certSize(), WORK: number = x.workSize(), TC: number = x.trustConfigSize();
// One fresh page at the top of linear memory, unused by the module: an input
// placed so that it ends exactly at the end of memory turns any read past its
// end into a trap (an over-read inside memory would otherwise go unnoticed).
x.memory.grow(1);
const END: number = x.memory.buffer.byteLength;
function atEnd(b: Uint8Array): number { const p = END - b.length; m.write(b, p); return p; }

class Arena {
  p = S;
  alloc(n: number) { const r = this.p; this.p += (n + 7) & ~7; return r; }
  put(b: Uint8Array) { const r = this.alloc(b.length); m.write(b, r); return r; }
  list(items: Uint8Array[]) {
    const ptrs = items.map((b) => this.put(b));
    const l = this.alloc(8 * Math.max(1, items.length));
    const dv = new DataView(m.mem().buffer);
    ptrs.forEach((p, i) => { dv.setUint32(l + 8 * i, p, true); dv.setInt32(l + 8 * i + 4, items[i].length, true); });
    return l;
  }
}

// ---- seeds (OpenSSL) ---------------------------------------------------------
const pki = new Pki();
after(() => pki.cleanup());
const root = pki.root("root");
const inter = pki.ca("inter", root, { ext: "basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign" });
const srv = pki.issue("srv", inter, { san: "DNS:lwm2m.example.com,DNS:*.example.com,DNS:*.com,IP:127.0.0.1,IP:2001:db8::1", subject: "/CN=cn.example.com/O=x" });
const cnOnly = pki.issue("cn", inter, { subject: "/CN=*.example.com" });
const gen = pki.issue("gen", inter, { notAfter: new Date(Date.UTC(2060, 0, 1)) });
const rsa = pki.issue("rsa", inter, { key: "rsa" });
const p224 = pki.issue("p224", inter, { key: "secp224r1" });
const sha1 = pki.issue("sha1", inter, { md: "sha1" });
const crit = pki.issue("crit", inter, { ext: "basicConstraints=critical,CA:FALSE\n1.2.3.4=critical,DER:0500\nkeyUsage=digitalSignature" });
const seeds = [root, inter, srv, cnOnly, gen, rsa, p224, sha1, crit].map((c) => c.der);
const spki = new Uint8Array(srv.x509.publicKey.export({ type: "spki", format: "der" }));
/** srv's signatureValue (a DER ECDSA-Sig-Value), located by the module's own parser. */
const sigDer = (() => {
  const a = new Arena();
  const d = a.put(srv.der), c = a.alloc(CERT_SIZE), out = a.alloc(128);
  assert.equal(x.parse(d, srv.der.length, c), 0);
  x.dump(c, out);
  const dv = new DataView(m.mem().buffer);
  const off = dv.getInt32(out + 44, true), len = dv.getInt32(out + 48, true);
  return srv.der.slice(off, off + len);
})();

/** Offsets of every TLV header in a DER blob (a JS walker, for structure-aware mutations). */
function headers(b: Uint8Array): number[] {
  const out: number[] = [];
  const walk = (p: number, end: number, depth: number) => {
    while (p + 2 <= end && depth < 12) {
      out.push(p);
      let len = b[p + 1], q = p + 2;
      if (len & 0x80) { const k = len & 0x7f; len = 0; for (let i = 0; i < k; i++) len = len * 256 + b[q + i]; q += k; }
      if (q + len > end) return;
      if (b[p] & 0x20) walk(q, q + len, depth + 1);
      else if (b[p] === 0x04 || b[p] === 0x03) walk(q + (b[p] === 0x03 ? 1 : 0), q + len, depth + 1); // wrapped extension values, keys
      p = q + len;
    }
  };
  walk(0, b.length, 0);
  return out;
}

function mutate(src: Uint8Array): Uint8Array {
  let b = src.slice();
  const n = rnd() < 0.6 ? 1 : 2 + ri(3);
  for (let k = 0; k < n; k++) {
    const hs = headers(b);
    const h = hs.length ? pick(hs) : 0;
    switch (ri(16)) {
      case 12: case 13: case 14: case 15: { // contents only: the structure stays valid DER more often
        if (h + 2 >= b.length || (b[h] & 0x20)) { b[ri(b.length)] ^= 1 << ri(8); break; }
        let q = h + 2, len = b[h + 1];
        if (len & 0x80) { const k = len & 0x7f; len = 0; for (let i = 0; i < k; i++) len = len * 256 + (b[q + i] ?? 0); q += k; }
        if (len > 0 && q + len <= b.length) b[q + ri(len)] = pick([ri(256), 0x2a, 0x2e, 0x00, 0xff, 0x30 + ri(10), 0x5a]);
        break;
      }
      case 0: b[ri(b.length)] ^= 1 << ri(8); break; // bit flip
      case 1: b[ri(b.length)] = ri(256); break; // byte
      case 2: if (b.length > 1) b = b.slice(0, ri(b.length)); break; // truncate
      case 3: { const at = ri(b.length); b = new Uint8Array([...b.slice(0, at), ...bytes(1 + ri(8)), ...b.slice(at)]); break; } // insert
      case 4: { const at = ri(b.length); b = new Uint8Array([...b.slice(0, at), ...b.slice(at + 1 + ri(16))]); break; } // delete
      case 5: if (h + 1 < b.length) b[h + 1] = pick([0x00, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0xff, b[h + 1] + 1, b[h + 1] - 1]) & 0xff; break; // length octet
      case 6: if (h < b.length) b[h] = pick([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x1f, 0x30, 0x31, 0x80, 0x82, 0x87, 0xa0, 0xa3]); break; // tag
      case 7: if (h + 2 < b.length) b[h + 2] ^= 0x80; break; // first contents / long-length octet
      case 8: { const a = pick(hs.length ? hs : [0]), c = pick(hs.length ? hs : [0]); // splice a TLV region over another
        const l = 2 + ri(40); b = new Uint8Array([...b.slice(0, a), ...b.slice(c, c + l), ...b.slice(a + l)]); break; }
      case 9: b = new Uint8Array([...b, ...bytes(ri(4))]); break; // trailing
      case 10: { const at = ri(b.length); b.fill(pick([0x00, 0xff, 0x30]), at, at + ri(8)); break; }
      case 11: { const o = pick(seeds); const at = ri(b.length); b = new Uint8Array([...b.slice(0, at), ...o.slice(ri(o.length))]); break; } // crossover
    }
    if (b.length === 0) b = new Uint8Array([0x30]);
  }
  return b;
}

/** Random DER-ish trees: mostly well-formed TLVs with random tags and lengths. */
function randomDer(depth = 0): Uint8Array {
  const tag = pick([0x30, 0x31, 0xa0, 0xa3, 0x02, 0x03, 0x04, 0x06, 0x17, 0x18, 0x01, 0x82, 0x87, 0x0c, ri(256)]);
  let body: Uint8Array;
  if ((tag & 0x20) && depth < 6) {
    const parts: Uint8Array[] = [];
    for (let i = ri(4); i > 0; i--) parts.push(randomDer(depth + 1));
    body = new Uint8Array(parts.flatMap((p) => [...p]));
  } else body = bytes(ri(20));
  const len = body.length;
  const hdr = len < 128 ? [len] : len < 256 ? [0x81, len] : [0x82, len >> 8, len & 0xff];
  if (rnd() < 0.05) hdr[0] = ri(256);
  return new Uint8Array([tag, ...hdr, ...body]);
}

const HOSTS = ["lwm2m.example.com", "a.example.com", "example.com", "cn.example.com", "127.0.0.1", "2001:db8::1", "[::1]", "*.example.com", "", ".", "::", "1.2.3.4.5"];
function randomHost(): string {
  const alpha = "ab.*:[]019fF-x";
  let s = "";
  for (let i = ri(24); i > 0; i--) s += alpha[ri(alpha.length)];
  return s;
}

function check(r: number, what: string) {
  if (!(r >= 0 || KNOWN.has(r))) throw new Error(`${what}: unknown result ${r}`);
}

test(`x509 fuzz: ${ITER} mutated certificates, keys, signatures and random DER, zero traps`, () => {
  const sha = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());
  let parsedOk = 0, chainOk = 0;
  for (let i = 0; i < ITER; i++) {
    const base = pick(seeds);
    const input = i % 10 === 9 ? randomDer() : mutate(base);
    try {
      const a = new Arena();
      const d = atEnd(input), c = a.alloc(CERT_SIZE), out = a.alloc(128), sl = a.alloc(12 * 32);
      // DER reader on the raw input
      check(x.tlv(d, input.length, out), "tlv");
      check(x.time(d, input.length, out), "time");
      check(x.integer(d, input.length), "integer");
      check(x.bitString(d, input.length), "bitString");
      check(x.sigToRaw(d, input.length, out), "sigToRaw on input");
      // parser
      const r = x.parse(d, input.length, c);
      check(r, "parse");
      if (r === 0) {
        parsedOk++;
        x.dump(c, out);
        check(x.sanList(c, sl, 32), "sanList");
        const host = rnd() < 0.5 ? pick(HOSTS) : randomHost();
        const hb = new TextEncoder().encode(host);
        check(x.matchHost(c, a.put(hb), hb.length), "matchHost");
        check(x.checkPurpose(c, 4), "checkPurpose");
        check(x.checkTime(c, BigInt(pick([-1, 0, Math.floor(Date.now() / 1000), 2 ** 40])), ri(4)), "checkTime");
        check(x.verifySignedBy(c, a.put(spki.slice(-65))), "verifySignedBy");
      }
      // path validation: mutant as leaf, as intermediate, as anchor
      const w = a.alloc(WORK);
      const now = BigInt(rnd() < 0.2 ? -1 : Math.floor(Date.now() / 1000));
      const lists: [Uint8Array[], Uint8Array][] = [[[input, inter.der], root.der], [[srv.der, input], root.der], [[srv.der, inter.der], input], [[input], input]];
      for (const [l, anchor] of lists) {
        const lp = a.list(l);
        // the mutant's list entry points at the copy that ends at the end of memory
        l.forEach((e, k) => { if (e === input) new DataView(m.mem().buffer).setUint32(lp + 8 * k, d, true); });
        const rc = x.verifyChain(lp, l.length, anchor === input ? d : a.put(anchor), anchor.length, now, ri(16), w);
        check(rc, "verifyChain");
        if (rc >= 0) chainOk++;
      }
      // LwM2M trust decision
      const usage = ri(5), matching = ri(3);
      const key = matching === 1 ? sha(pick([input, root.der, inter.der])) : pick([input, root.der, inter.der, srv.der]);
      const hb = new TextEncoder().encode(rnd() < 0.5 ? pick(HOSTS) : randomHost());
      const list = rnd() < 0.5 ? [input, inter.der] : [srv.der, input, root.der];
      const store = [root.der, input].slice(0, ri(3));
      const tc = a.alloc(TC);
      x.trustConfig(tc, usage, matching, a.put(key), key.length, a.put(hb), hb.length, a.list(store), store.length, rnd() < 0.3 ? a.put(spki.slice(-65)) : 0, ri(4));
      check(x.verifyServer(tc, a.list(list), list.length, now, w), "verifyServer");
      // RPK: mutated SPKI both sides; mutated ECDSA signatures
      const ms = mutate(spki);
      check(x.rpk(atEnd(ms), ms.length, a.put(spki), spki.length, 0), "rpk peer");
      check(x.rpk(a.put(spki), spki.length, atEnd(ms), ms.length, a.put(spki.slice(-65))), "rpk configured");
      check(x.parseSpki(atEnd(ms), ms.length), "parseSpki");
      const sg = mutate(sigDer);
      check(x.sigToRaw(atEnd(sg), sg.length, out), "sigToRaw");
    } catch (e) {
      assert.fail(`seed ${SEED} iteration ${i}: ${(e as Error).message}\ninput ${hex(input)}`);
    }
  }
  console.log(`fuzz-x509: ${parsedOk} mutants parsed, ${chainOk} chain validations succeeded`);
  assert.ok(parsedOk > ITER / 100, "the mutator still produces parseable certificates");
});
