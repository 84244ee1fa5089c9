// The C host's own parts (boards/host-c) through its test driver
// (build/boards/lwm2m-host-test) and the wasm2c device binary:
//  - HMAC_DRBG (Mbed TLS, our instantiate) against the NIST CAVP vectors the
//    hmac-drbg package ships; the health-tested device RNG on a stuck source;
//  - the SE against node:crypto (keys, ECDSA both ways, ECDH) and against the
//    Node host's SE: sealed records cross-opened in both directions from one
//    key store, tampering and a wrong AAD refused, the counter persisted;
//  - every import's pointer/length check on a fake linear memory with a guard
//    zone behind it: out of range, wrapping, and the exact edge;
//  - a power cut at every flash program/erase of boot + provisioning through
//    the C host: the next boot mounts, healthy, with the configuration either
//    committed or not, never half.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createECDH, createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { p256 } from "@noble/curves/nist.js";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { BOARDS, requireBoard } from "./helpers/boards";

const ROOT = join(__dirname, "..");
const DRIVER = join(BOARDS, "lwm2m-host-test");
const WASM2C = join(BOARDS, "lwm2m-wasm2c");
const tmp = mkdtempSync(join(tmpdir(), "lwm2m-host-c-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const sha256 = (m: string) => new Uint8Array(createHash("sha256").update(m).digest());

/** Runs the driver over the commands; one answer line per command. */
function driver(cmds: string[]): string[] {
  const r = spawnSync(DRIVER, [], { input: cmds.join("\n") + "\n", encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.trimEnd().split("\n");
  assert.equal(out.length, cmds.length, r.stdout);
  return out;
}

interface Fixture { name: string; entropy: string; nonce: string; pers: string | null; add: (string | null)[]; expected: string }

test("HMAC_DRBG (SHA-256): the 30 NIST CAVP vectors shipped in the hmac-drbg package", (t) => {
  if (!requireBoard(t, DRIVER)) return;
  const fixtures: Fixture[] = JSON.parse(readFileSync(join(ROOT, "node_modules/hmac-drbg/test/fixtures/hmac-drbg-nist.json"), "utf8"));
  assert.equal(fixtures.length, 30);
  assert.ok(fixtures.some((f) => f.add.some((a) => a !== null)), "vectors with additional input");
  const out = driver(fixtures.map((f) => `drbg-kat ${f.entropy} ${f.nonce} ${f.pers ?? "-"} ${f.add[0] ?? "-"} ${f.add[1] ?? "-"} ${f.expected.length / 2}`));
  fixtures.forEach((f, i) => assert.equal(out[i], `0 ${f.expected}`, `vector ${f.name}`));
  // every byte is compared: a changed entropy input changes the output
  const f = fixtures[0];
  const other = driver([`drbg-kat ${f.entropy.slice(0, -1)}${(parseInt(f.entropy.slice(-1), 16) ^ 1).toString(16)} ${f.nonce} - - - ${f.expected.length / 2}`]);
  assert.notEqual(other[0], `0 ${f.expected}`);
});

test("device RNG: SP 800-90B health tests on getrandom pass; a stuck source fails the RCT, rng_fill answers RngHealth with zeroes", (t) => {
  if (!requireBoard(t, DRIVER)) return;
  const [ok, ok2, stuck] = driver(["rng os", "rng os", "rng stuck:0x00"]);
  const m = /^0 0 ([0-9a-f]{64}) failure=0$/.exec(ok);
  assert.ok(m, ok);
  assert.notEqual(ok.split(" ")[2], ok2.split(" ")[2], "two instantiations give different output");
  assert.notEqual(m[1], "77".repeat(32));
  assert.equal(stuck, `-3 -3 ${"00".repeat(32)} failure=1`, "RCT (1) failure: RngHealth at instantiation and on fill, output zeroed");
});

test("SE on Mbed TLS against node:crypto: imported key's public key, ECDSA both ways (low-S, RFC 6979 as @noble/curves), ECDH, bad inputs", (t) => {
  if (!requireBoard(t, DRIVER)) return;
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = privateKey.export({ format: "jwk" });
  const d = Buffer.from(jwk.d!, "base64url").toString("hex");
  const pubNode = hex(new Uint8Array(Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")])));
  const digest = sha256("lwm2m-wasm boards");
  // node:crypto hashes its input: it signs the digest's preimage
  const nodeSig = hex(new Uint8Array(nodeSign("sha256", Buffer.from("lwm2m-wasm boards"), { key: privateKey, dsaEncoding: "ieee-p1363" })));
  const peer = createECDH("prime256v1");
  peer.generateKeys();
  const peerPub = hex(new Uint8Array(peer.getPublicKey()));
  const offCurve = "04" + "11".repeat(64);
  const N = p256.Point.Fn.ORDER;
  const [imp, pub, sig, verNode, ecdh, ecdhBad, zero, order, nokey, badSlot, gen, destroy, after] = driver([
    `se-import 1 ${d}`, "se-pub 1", `se-sign 1 ${hex(digest)}`, `se-verify ${pubNode} ${hex(digest)} ${nodeSig}`,
    `se-ecdh 1 ${peerPub}`, `se-ecdh 1 ${offCurve}`, `se-import 2 ${"00".repeat(32)}`, `se-import 2 ${N.toString(16)}`,
    "se-sign 3 " + hex(digest), "se-pub 16", "se-gen 9", "se-destroy 1", "se-pub 1",
  ]);
  assert.equal(imp, `0 ${pubNode}`, "the public key of an imported node:crypto key");
  assert.equal(pub, `0 ${pubNode}`);
  const [st, sigHex] = sig.split(" ");
  assert.equal(st, "0");
  assert.ok(nodeVerify("sha256", Buffer.from("lwm2m-wasm boards"), { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(sigHex, "hex")), "node:crypto verifies the C signature");
  assert.ok(BigInt("0x" + sigHex.slice(64)) <= N / 2n, "low-S");
  assert.equal(sigHex, hex(p256.sign(digest, unhex(d), { prehash: false, lowS: true, format: "compact" })), "RFC 6979 k: the same signature as @noble/curves");
  const [v1, v2] = driver([`se-verify ${pubNode} ${hex(digest)} ${sigHex}`, `se-verify ${pubNode} ${hex(sha256("other"))} ${sigHex}`]);
  assert.equal(v1, "0");
  assert.equal(v2, "-4", "BadSignature over another digest");
  assert.equal(verNode, "0", "the C SE verifies node:crypto's signature");
  assert.equal(ecdh, `0 ${hex(new Uint8Array(peer.computeSecret(Buffer.from(pubNode, "hex"))))}`, "ECDH: the x-coordinate node:crypto computes");
  assert.equal(ecdhBad, "-1 -", "a point off the curve is Invalid");
  assert.equal(zero, "-1 -", "private key 0 refused");
  assert.equal(order, "-1 -", "private key n refused");
  assert.equal(nokey, "-2 -", "NoKey for an empty slot");
  assert.equal(badSlot, "-1 -", "slot 16 is Invalid");
  assert.match(gen, /^0 04[0-9a-f]{128}$/);
  assert.ok(p256.Point.fromHex(gen.split(" ")[1]), "a generated key is on the curve");
  assert.equal(destroy, "0");
  assert.equal(after, "-2 -", "destroyed");
  assert.ok(createPublicKey({ key: { kty: "EC", crv: "P-256", x: Buffer.from(gen.slice(4, 68), "hex").toString("base64url"), y: Buffer.from(gen.slice(68), "hex").toString("base64url") }, format: "jwk" }));
});

test("sealed records: one on-flash format; the Node host opens the C host's records and the reverse, from one key store; tampering, a wrong AAD and another device key are refused", (t) => {
  if (!requireBoard(t, DRIVER)) return;
  const dir = mkdtempSync(join(tmp, "seal-"));
  const nodeSe = new SimulatedSecureElement(join(dir, "se-keystore.json")); // the Node host creates the store
  const plain = unhex("00112233445566778899aabbccddeeff0102030405");
  const aad = unhex("6c776d326d2f7265636f7264");
  const fromNode = nodeSe.seal(plain, aad) as Uint8Array;
  const [init, opened, sealedLine, tampered, wrongAad] = driver([
    `se-init ${dir}`, `se-open ${hex(fromNode)} ${hex(aad)}`, `se-seal ${hex(plain)} ${hex(aad)}`,
    `se-open ${hex(fromNode).slice(0, -2)}${(fromNode[fromNode.length - 1] ^ 1).toString(16).padStart(2, "0")} ${hex(aad)}`,
    `se-open ${hex(fromNode)} 00`,
  ]);
  assert.equal(init, "0");
  assert.equal(opened, `${plain.length} ${hex(plain)}`, "C opens the Node host's record");
  const [len, sealedHex] = sealedLine.split(" ");
  assert.equal(Number(len), plain.length + 28, "nonce(12) || ciphertext || tag(16)");
  assert.deepEqual(nodeSe.open(unhex(sealedHex), aad), plain, "the Node host opens the C host's record");
  assert.equal(nodeSe.open(unhex(sealedHex), unhex("00")), null);
  assert.equal(tampered, "-5 -", "AuthFailed for a flipped tag bit");
  assert.equal(wrongAad, "-5 -", "AuthFailed for another AAD");
  // a store the C host creates is one the Node host loads
  const dir2 = mkdtempSync(join(tmp, "seal2-"));
  const [init2, sealed2, other] = driver([`se-init ${dir2}`, `se-seal ${hex(plain)} -`, `se-open ${sealedHex} ${hex(aad)}`]);
  assert.equal(init2, "0");
  assert.equal(other, "-5 -", "another device key does not open the record");
  assert.deepEqual(new SimulatedSecureElement(join(dir2, "se-keystore.json")).open(unhex(sealed2.split(" ")[1]), new Uint8Array(0)), plain);
});

test("SE counter: incremented first, persisted in its own file across restarts, never decreasing", (t) => {
  if (!requireBoard(t, DRIVER)) return;
  const dir = mkdtempSync(join(tmp, "ctr-"));
  const out = driver([`se-init ${dir}`, "se-counter 0", "se-counter 1", "se-counter 1", `se-init ${dir}`, "se-counter 0", "se-counter 1"]);
  assert.deepEqual(out, ["0", "0", "1", "2", "0", "2", "3"]);
  assert.equal(readFileSync(join(dir, "se-counter"), "utf8"), "3\n");
});

test("ABI argument checks: every pointer/length out of linear memory (also wrapping past 2^32) is Invalid and nothing outside memory is touched; the exact edge works", (t) => {
  if (!requireBoard(t, DRIVER)) return;
  const M = 65536;
  const cases: [string, string][] = [
    // [command, expected answer]
    [`abi ${M} rng_fill ${M - 32} 32`, "0 guard=ok"],
    [`abi ${M} rng_fill ${M - 31} 32`, "-1 guard=ok"],
    [`abi ${M} rng_fill 0xffffffff 2`, "-1 guard=ok"],
    [`abi ${M} rng_fill 16 0xfffffff0`, "-1 guard=ok"],
    [`abi ${M} se_generate_p256 15 ${M - 65}`, "0 guard=ok"],
    [`abi ${M} se_generate_p256 15 ${M - 64}`, "-1 guard=ok"],
    [`abi ${M} se_generate_p256 99 0`, "-1 guard=ok"],
    [`abi ${M} se_import_p256 3 0 32 ${M - 10} @0=${"01".repeat(32)}`, "-1 guard=ok"],
    [`abi ${M} se_import_p256 3 ${M - 16} 32 100`, "-1 guard=ok"],
    [`abi ${M} se_import_p256 3 0 31 100 @0=${"01".repeat(32)}`, "-1 guard=ok"],
    [`abi ${M} se_import_p256 3 0 32 100 @0=${"01".repeat(32)}`, "0 guard=ok"],
    [`abi ${M} se_public_key 3 ${M - 1}`, "-1 guard=ok"],
    [`abi ${M} se_sign_digest 3 ${M - 31} 0`, "-1 guard=ok"],
    [`abi ${M} se_sign_digest 3 0 ${M - 63}`, "-1 guard=ok"],
    [`abi ${M} se_ecdh 3 ${M - 64} 65 0`, "-1 guard=ok"],
    [`abi ${M} se_ecdh 3 0 65 ${M - 31}`, "-1 guard=ok"],
    [`abi ${M} se_verify_digest ${M - 64} 65 0 0`, "-1 guard=ok"],
    [`abi ${M} se_verify_digest 0 65 0 ${M - 63}`, "-1 guard=ok"],
    [`abi ${M} se_verify_digest 0 65 0 100`, "-4 guard=ok"],
    [`abi ${M} se_seal 0 100 0 0 ${M - 127} 128`, "-1 guard=ok"],
    [`abi ${M} se_seal 0 100 0 0 ${M - 128} 128`, "128 guard=ok"],
    [`abi ${M} se_seal 0 100 0 0 1000 127`, "-7 guard=ok"],
    [`abi ${M} se_seal 0 0xffffffff 0 0 0 100`, "-1 guard=ok"],
    [`abi ${M} se_open 0 100 ${M} 1 200 100`, "-1 guard=ok"],
    [`abi ${M} se_open 0 100 0 0 200 100`, "-5 guard=ok"],
    [`abi ${M} flash_read 0 ${M - 100} 101`, "-1 guard=ok"],
    [`abi ${M} flash_read 0 ${M - 100} 100`, "0 guard=ok"],
    [`abi ${M} flash_read 65500 0 100`, "-1 guard=ok"],
    [`abi ${M} flash_program 0 ${M - 1} 2`, "-1 guard=ok"],
    [`abi ${M} flash_program 0x7fffffff 0 2`, "-1 guard=ok"],
    [`abi ${M} flash_erase_sector 100`, "-1 guard=ok"],
    // NOR semantics behind the checks: bits only go 1 -> 0
    [`abi ${M} flash_program 4096 0 2 @0=0f0f`, "0 guard=ok"],
    [`abi ${M} flash_program 4096 0 2 @0=f0f0`, "-8 guard=ok"],
    [`abi ${M} flash_program 4096 0 2 @0=0101`, "0 guard=ok"],
    [`abi ${M} flash_erase_sector 4096`, "0 guard=ok"],
    [`abi ${M} flash_program 4096 0 2 @0=f0f0`, "0 guard=ok"],
    [`abi ${M} net_open ${M - 4} 9 5683`, "-1 guard=ok"],
    [`abi ${M} net_open 0 0 5683`, "-1 guard=ok"],
    [`abi ${M} net_open 0 9 0 @0=${hex(new TextEncoder().encode("127.0.0.1"))}`, "-1 guard=ok"],
    [`abi ${M} net_send 0 ${M - 1} 2`, "-1 guard=ok"],
    [`abi ${M} net_send 7 0 2`, "-1 guard=ok"],
    [`abi ${M} log_write 2 ${M - 1} 0x80000000`, "0 guard=ok"],
    [`abi 0 rng_fill 0 1`, "-1 guard=ok"],
    [`abi 0 rng_fill 0 0`, "0 guard=ok"],
  ];
  const out = driver(cases.map((c) => c[0]));
  cases.forEach(([cmd, want], i) => assert.equal(out[i], want, cmd));
});

/** Runs the wasm2c device binary; the exit code and what it printed. */
function device(args: string[]) {
  const r = spawnSync(WASM2C, args, { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

test("power cut at every flash program/erase of boot + provisioning through the C host: the next boot mounts healthy, configuration committed or absent, never half", (t) => {
  if (!requireBoard(t, WASM2C)) return;
  const provision = ["--endpoint", "power-cut", "--server", "coap://127.0.0.1:9", "--provision-only", "--stats", "--log-level", "1"];
  const full = device(["device", "--state", mkdtempSync(join(tmp, "cut-")), ...provision]);
  assert.equal(full.code, 0, full.out);
  const m = /flash ops: (\d+) programs, (\d+) erases/.exec(full.out);
  assert.ok(m, full.out);
  const ops = Number(m[1]) + Number(m[2]);
  assert.ok(ops >= 5, `boot and provisioning write the flash (${ops} operations)`);
  const seen = new Set<number>();
  for (let n = 1; n <= ops + 1; n++) {
    const dir = mkdtempSync(join(tmp, `cut${n}-`));
    const cut = device(["device", "--state", dir, ...provision, "--power-cut-after", String(n), "--cut-seed", String(n)]);
    if (n <= ops) {
      assert.equal(cut.code, 3, `cut ${n}: the device stops at the cut\n${cut.out}`);
      assert.match(cut.out, /power lost during flash (program|erase) at 0x[0-9a-f]+/, `cut ${n}`);
    } else assert.equal(cut.code, 0, `no cut beyond the last operation\n${cut.out}`);
    const boot = device(["boot", "--state", dir, "--log-level", "1"]);
    assert.equal(boot.code, 0, `boot after cut ${n}\n${boot.out}`);
    assert.match(boot.out, /boot status: DRBG ok, SE ok, flash ok/, `cut ${n}`);
    const p = /provisioned: (\d)/.exec(boot.out);
    assert.ok(p, boot.out);
    seen.add(Number(p[1]));
    if (p[1] === "1") {
      // committed: the stored configuration runs (the endpoint was written whole)
      const again = device(["device", "--state", dir, "--provision-only", "--log-level", "2"]);
      assert.equal(again.code, 0, again.out);
      assert.match(again.out, /using the configuration stored in/, `cut ${n}`);
    }
  }
  assert.deepEqual([...seen].sort(), [0, 1], "cuts before the commit leave it unprovisioned, cuts after it provisioned");
});
