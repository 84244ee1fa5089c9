// server/formats.ts: the development servers' LwM2M content formats.
// Vectors: the LwM2M 1.1 TS examples typed in beside the tests
// (test/vectors/lwm2m-tlv-examples.json §7.4.3, lwm2m-senml-json-examples.json
// §7.4.4, lwm2m-senml-cbor-examples.json §7.4.5), the same files the firmware's
// format tests use; RFC 6690 §5 for link format. Plus seeded round trips and
// hostile inputs (only FormatError may come out).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  decodeTlv, encodeTlv, decodeSenmlJson, encodeSenmlJson, decodeSenmlCbor, encodeSenmlCbor, decodeText, encodeText,
  decodeContent, encodeContent, parseLinkFormat, formatLinkFormat, FormatError, LwM2MEntry, LwM2MValue, ResourceType,
  TypeResolver, objlnk, builtinTypes,
} from "../server/formats";
import { ContentFormat } from "../server/coap";
import { prng } from "./helpers/coap-harness";

const vec = (name: string) => JSON.parse(readFileSync(join(__dirname, "vectors", name), "utf8"));
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const utf8 = (s: string) => new TextEncoder().encode(s);

interface VEntry { path: string; type?: ResourceType; value?: unknown; kind?: string; t?: number }
const valued = (es: VEntry[]) => es.filter((e) => !e.kind);
const resolverOf = (es: VEntry[]): TypeResolver => (p) => es.find((e) => e.path === p)?.type;
/** The vector's value in our representation. */
function expected(e: VEntry): LwM2MValue {
  if (e.type === "objlnk") return { objlnk: e.value as string };
  if (e.type === "opaque") return unhex(e.value as string);
  return e.value as LwM2MValue;
}

test("TLV: the TS §7.4.3 examples decode to their entries and re-encode byte for byte; the misprinted ones are refused", () => {
  const v = vec("lwm2m-tlv-examples.json");
  assert.ok(v.examples.length >= 6);
  for (const ex of v.examples) {
    const es = valued(ex.entries);
    const bytes = unhex(ex.hex);
    assert.equal(bytes.length, ex.totalBytes, ex.name);
    const got = decodeTlv(bytes, ex.request, resolverOf(es));
    assert.deepEqual(got, es.map((e) => ({ path: e.path, value: expected(e) })), ex.name);
    assert.equal(hex(encodeTlv(got, ex.request, resolverOf(es))), hex(bytes), `${ex.name} re-encoded`);
    if (ex.printedHex) assert.throws(() => decodeTlv(unhex(ex.printedHex), ex.request, resolverOf(es)), FormatError, `${ex.name} as printed`);
  }
});

test("SenML JSON: the TS §7.4.4 examples decode to their entries; canonical ones re-encode exactly; misprints refused", () => {
  const v = vec("lwm2m-senml-json-examples.json");
  let canonical = 0;
  for (const ex of v.examples) {
    if (ex.legacy) { assert.throws(() => decodeSenmlJson(ex.text), FormatError); continue; }
    const es = valued(ex.entries);
    const got = decodeSenmlJson(ex.text, resolverOf(es));
    assert.deepEqual(got.map((e) => ({ path: e.path, value: e.value })), es.map((e) => ({ path: e.path, value: expected(e) })), ex.name);
    if (ex.baseTime !== undefined) assert.deepEqual(got.map((e) => e.time), es.map((e) => ex.baseTime + (e.t ?? 0)));
    if (ex.canonical && ex.baseTime === undefined) {
      assert.equal(new TextDecoder().decode(encodeSenmlJson(got, ex.request, resolverOf(es))), ex.text, ex.name);
      canonical++;
    }
    if (ex.printed) assert.throws(() => decodeSenmlJson(ex.printed, resolverOf(es)), FormatError, `${ex.name} as printed`);
  }
  assert.ok(canonical >= 4);
});

test("SenML CBOR: the TS §7.4.5 example equals the SenML JSON one and re-encodes byte for byte", () => {
  const cbor = vec("lwm2m-senml-cbor-examples.json").examples[0];
  const json = vec("lwm2m-senml-json-examples.json").examples.find((e: { name: string }) => e.name.startsWith("Read /3/0 (Device"));
  const es = valued(json.entries);
  const bytes = unhex(cbor.hex);
  const got = decodeSenmlCbor(bytes, resolverOf(es));
  assert.deepEqual(got, decodeSenmlJson(json.text, resolverOf(es)));
  assert.equal(hex(encodeSenmlCbor(got, "/3/0", resolverOf(es))), hex(bytes));
  const flipped = bytes.slice();
  flipped[bytes.length - 1] ^= 1; // "U" → "T"
  assert.notDeepEqual(decodeSenmlCbor(flipped, resolverOf(es)), got);
});

test("plain text and opaque (§7.4.1, §7.4.2) by resource type", () => {
  const cases: [ResourceType, string, LwM2MValue][] = [
    ["integer", "-42", -42], ["integer", "9007199254740993", 9007199254740993n], ["unsignedInteger", "18446744073709551615", 18446744073709551615n],
    ["float", "22.5", 22.5], ["boolean", "1", true], ["boolean", "0", false], ["time", "1367491215", 1367491215],
    ["string", "Open Mobile Alliance", "Open Mobile Alliance"], ["objlnk", "66:0", objlnk(66, 0)], ["opaque", "AQID", Uint8Array.of(1, 2, 3)],
  ];
  for (const [type, text, value] of cases) {
    assert.deepEqual(decodeText(utf8(text), type), value, `${type} ${text}`);
    assert.equal(new TextDecoder().decode(encodeText(value, type)), text, `${type} ${text} encoded`);
  }
  for (const [type, text] of [["integer", "1.5"], ["integer", "99999999999999999999"], ["boolean", "2"], ["objlnk", "1:70000"], ["float", "abc"], ["opaque", "**"]] as const) {
    assert.throws(() => decodeText(utf8(text), type), FormatError, `${type} '${text}'`);
  }
  assert.deepEqual(decodeContent(ContentFormat.TEXT, utf8("300"), "/1/0/1"), [{ path: "/1/0/1", value: 300 }], "type from the built-in Server object");
  assert.deepEqual(decodeContent(ContentFormat.OPAQUE, Uint8Array.of(9, 8), "/0/1/5"), [{ path: "/0/1/5", value: Uint8Array.of(9, 8) }]);
  assert.equal(hex(encodeContent(ContentFormat.OPAQUE, [{ path: "/5/0/0", value: Uint8Array.of(7) }], "/5/0/0")), "07");
});

test("TLV: integers use the smallest of 1/2/4/8 bytes, unsigned and float widths, 16-bit ids and 8..24-bit lengths", () => {
  const enc = (path: string, value: LwM2MValue, type?: ResourceType) => hex(encodeTlv([{ path, value }], path.split("/").slice(0, 3).join("/"), () => type));
  assert.equal(enc("/9/0/1", 127), "c1017f");
  assert.equal(enc("/9/0/1", 128), "c2010080");
  assert.equal(enc("/9/0/1", -129), "c201ff7f");
  assert.equal(enc("/9/0/1", 2 ** 31), "c8010800000000" + "80000000");
  assert.equal(enc("/9/0/1", 255, "unsignedInteger"), "c101ff");
  assert.equal(enc("/9/0/1", 1.5, "float"), "c4013fc00000");
  assert.equal(enc("/9/0/1", 0.1, "float"), "c801083fb999999999999a");
  assert.equal(enc("/9/0/300", true), "e1012c01");
  const long = new Uint8Array(300).fill(0x61);
  assert.equal(enc("/9/0/1", long).slice(0, 8), "d001012c");
  assert.deepEqual(decodeTlv(unhex("c801083fb999999999999a"), "/9/0", () => "float"), [{ path: "/9/0/1", value: 0.1 }]);
});

test("round trips: 1500 random instances through TLV, SenML JSON and SenML CBOR", () => {
  const r = prng(2024);
  const types: ResourceType[] = ["string", "integer", "unsignedInteger", "float", "boolean", "opaque", "time", "objlnk"];
  for (let i = 0; i < 1500; i++) {
    const oid = 1000 + r.int(30000), iid = r.int(3);
    const typeOf = new Map<string, ResourceType>();
    const entries: LwM2MEntry[] = [];
    const rids = [...new Set(Array.from({ length: 1 + r.int(5) }, () => r.int(i % 7 === 0 ? 70000 : 300) % 65536))];
    for (const rid of rids) {
      const type = types[r.int(types.length)];
      const value = (): LwM2MValue => {
        switch (type) {
          case "string": return Buffer.from(r.bytes(r.int(12))).toString("base64");
          case "integer": case "time": return r.int(2) ? r.int(1 << 30) - (1 << 29) : BigInt.asIntN(64, BigInt(r.u32()) << 32n | BigInt(r.u32())) || 1;
          case "unsignedInteger": return r.int(2) ? r.int(70000) : (BigInt(r.u32()) << 32n) | BigInt(r.u32());
          case "float": return r.int(2) ? Math.fround((r.int(20000) - 10000) / 8) : (r.int(2000000) - 1000000) / 1000;
          case "boolean": return r.int(2) === 1;
          case "opaque": return r.bytes(r.int(40));
          case "objlnk": return objlnk(r.int(65536), r.int(65536));
          default: throw new Error(type);
        }
      };
      const multi = r.int(4) === 0;
      const n = multi ? 1 + r.int(3) : 1;
      for (let k = 0; k < n; k++) {
        const path = multi ? `/${oid}/${iid}/${rid}/${k * 2}` : `/${oid}/${iid}/${rid}`;
        typeOf.set(path, type);
        let v = value();
        if (typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) v = Number(v);
        entries.push({ path, value: v });
      }
    }
    const types_: TypeResolver = (p) => typeOf.get(p);
    const base = r.int(2) ? `/${oid}` : `/${oid}/${iid}`;
    assert.deepEqual(decodeTlv(encodeTlv(entries, base, types_), base, types_), entries, `TLV ${i}`);
    assert.deepEqual(decodeSenmlCbor(encodeSenmlCbor(entries, base, types_), types_), entries, `SenML CBOR ${i}`);
    const viaJson = decodeSenmlJson(encodeSenmlJson(entries, base, types_), types_);
    // JSON numbers are doubles: 64-bit integers beyond 2^53 lose precision by nature
    const jsonable = entries.map((e) => ({ path: e.path, value: typeof e.value === "bigint" ? Number(e.value) : e.value }));
    assert.deepEqual(viaJson, jsonable, `SenML JSON ${i}`);
  }
});

test("link format (RFC 6690 §5 example, an LwM2M Register payload, a Discover answer) parses and formats back", () => {
  const rfc = '</sensors/temp>;rt="temperature-c";if="sensor",</sensors/light>;rt="light-lux";if="sensor"';
  const l = parseLinkFormat(rfc);
  assert.deepEqual(l, [{ uri: "/sensors/temp", params: { rt: "temperature-c", if: "sensor" } }, { uri: "/sensors/light", params: { rt: "light-lux", if: "sensor" } }]);
  assert.equal(formatLinkFormat(l), rfc);
  const reg = '</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>;ver=1.1,</5>';
  const r = parseLinkFormat(utf8(reg));
  assert.deepEqual(r.map((x) => x.uri), ["/", "/1/0", "/3/0", "/5"]);
  assert.deepEqual(r[0].params, { rt: "oma.lwm2m", ct: "11543" });
  assert.equal(formatLinkFormat(r), reg);
  const disc = parseLinkFormat('</3/0>;pmin=10;pmax=60,</3/0/1>,</3/0/6>;dim=2,</3/0/7>;dim=2;gt=50.5,</3/0/4>;flag');
  assert.deepEqual(disc[3].params, { dim: "2", gt: "50.5" });
  assert.equal(disc[4].params.flag, true);
  assert.deepEqual(parseLinkFormat('<a>;title="x, \\"y\\""'), [{ uri: "a", params: { title: 'x, "y"' } }]);
  assert.deepEqual(parseLinkFormat(""), []);
  for (const bad of ["/1/0", "</1/0", "</1/0>;", "</1/0>,", "</1/0> </2>", '</1>;t="x', "</1>;=3"]) assert.throws(() => parseLinkFormat(bad), FormatError, bad);
});

test("hostile inputs: 10000 random payloads per decoder give entries or FormatError, never another exception", () => {
  const r = prng(0xbad);
  const n = Number(process.env.FUZZ_ITERATIONS ?? 10000);
  const seedTlv = unhex(vec("lwm2m-tlv-examples.json").examples[2].hex);
  const seedCbor = unhex(vec("lwm2m-senml-cbor-examples.json").examples[0].hex);
  const seedJson = utf8(vec("lwm2m-senml-json-examples.json").examples[0].text);
  const mutate = (seed: Uint8Array) => {
    const b = r.int(3) ? seed.slice(0, 1 + r.int(seed.length)) : r.bytes(r.int(40));
    for (let k = r.int(4); k > 0; k--) if (b.length) b[r.int(b.length)] = r.u32() & 0xff;
    return b;
  };
  const decoders: [string, Uint8Array, (b: Uint8Array) => unknown][] = [
    ["TLV /2", seedTlv, (b) => decodeTlv(b, "/2")],
    ["TLV /3/0 typed", seedTlv, (b) => decodeTlv(b, "/3/0", builtinTypes)],
    ["SenML CBOR", seedCbor, (b) => decodeSenmlCbor(b)],
    ["SenML JSON", seedJson, (b) => decodeSenmlJson(b)],
    ["link format", utf8('</>;rt="oma.lwm2m",</1/0>,</3/0>;ver=1.1'), (b) => parseLinkFormat(b)],
    ["text integer", utf8("12345"), (b) => decodeText(b, "integer")],
  ];
  for (const [name, seed, dec] of decoders) {
    for (let i = 0; i < n; i++) {
      const b = mutate(seed);
      try { dec(b); } catch (e) {
        if (!(e instanceof FormatError)) assert.fail(`${name}: ${(e as Error).name}: ${(e as Error).message} for ${hex(b)} (seed 0xbad, iteration ${i})`);
      }
    }
  }
});

test("encoders refuse what the target cannot carry", () => {
  assert.throws(() => encodeTlv([{ path: "/3/0", value: 1 }], "/3"), FormatError);
  assert.throws(() => encodeTlv([{ path: "/4/0/1", value: 1 }], "/3"), FormatError);
  assert.throws(() => encodeTlv([{ path: "/3/0/1", value: 1 }, { path: "/3/0/1/0", value: 2 }], "/3/0"), FormatError);
  assert.throws(() => encodeSenmlJson([{ path: "/3/0/1", value: NaN }], "/3/0", () => "float"), FormatError);
  assert.throws(() => encodeContent(ContentFormat.TEXT, [{ path: "/3/0/1", value: 1 }, { path: "/3/0/2", value: 2 }], "/3/0"), FormatError);
  assert.throws(() => encodeContent(ContentFormat.OPAQUE, [{ path: "/3/0/1", value: "x" }], "/3/0/1"), FormatError);
  assert.throws(() => encodeTlv([{ path: "/3/0/1", value: 2n ** 64n }], "/3/0", () => "integer"), FormatError);
});
