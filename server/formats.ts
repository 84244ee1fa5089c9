// LwM2M content formats for the development servers (OMA-TS-LightweightM2M_Core
// V1.1 §7.4): TLV (11542), SenML JSON (110, RFC 8428), SenML CBOR (112),
// plain text (0), opaque (42), and CoRE link format (40, RFC 6690).
// Values are { path, value } entries; TLV and plain text carry no types, so
// their decoders take the resource types from a resolver (built in for
// objects 0, 1, 2 and 3; extend with defineObjectTypes).
import { ContentFormat } from "./coap";
import path from "node:path";
import fs from "node:fs";

export interface ObjectLink { objlnk: string } // "oid:iid" (§7.4.1 text form)
export type LwM2MValue = number | bigint | boolean | string | Uint8Array | ObjectLink;
export interface LwM2MEntry { path: string; value: LwM2MValue; /** SenML time (bt + t), when present. */ time?: number }
export type ResourceType = "string" | "integer" | "unsignedInteger" | "float" | "boolean" | "opaque" | "time" | "objlnk" | "corelnk" | "none";
/** Resource type of a resource (or resource instance) path, undefined when unknown. */
export type TypeResolver = (resourcePath: string) => ResourceType | undefined;

export class FormatError extends Error {
  constructor(msg: string) { super(msg); this.name = "FormatError"; }
}

export const objlnk = (oid: number, iid: number): ObjectLink => ({ objlnk: `${oid}:${iid}` });
export const isObjectLink = (v: unknown): v is ObjectLink => typeof v === "object" && v !== null && typeof (v as ObjectLink).objlnk === "string";

// ---- built-in object definitions (LwM2M 1.1 Appendix E) ------------------------------------

const S = "string", I = "integer", U = "unsignedInteger", B = "boolean", O = "opaque", T = "time", L = "objlnk", N = "none";
const OBJECT_TYPES = new Map<number, Record<number, ResourceType>>([
  // Security (E.1)
  [0, { 0: S, 1: B, 2: I, 3: O, 4: O, 5: O, 6: I, 7: O, 8: O, 9: S, 10: I, 11: I, 12: I, 13: U, 14: S, 15: U, 16: U, 17: L }],
  // Server (E.2)
  [1, { 0: I, 1: I, 2: I, 3: I, 4: N, 5: I, 6: B, 7: S, 8: N, 9: N, 10: L, 11: U, 12: T, 13: U, 14: U, 15: B, 16: B, 17: U, 18: U, 19: U, 20: U, 21: B, 22: S, 23: B }],
  // Access Control (E.3)
  [2, { 0: I, 1: I, 2: I, 3: I }],
  // Device (E.4)
  [3, { 0: S, 1: S, 2: S, 3: S, 4: N, 5: N, 6: I, 7: I, 8: I, 9: I, 10: I, 11: I, 12: N, 13: T, 14: S, 15: S, 16: S, 17: S, 18: S, 19: S, 20: I, 21: I, 22: L }],
]);

/** Declares (or extends) the resource types of an object for TLV / plain-text decoding. */
export function defineObjectTypes(oid: number, types: Record<number, ResourceType>) {
  OBJECT_TYPES.set(oid, { ...(OBJECT_TYPES.get(oid) ?? {}), ...types });
}

export const builtinTypes: TypeResolver = (p) => {
  const s = splitPath(p);
  if (s.length < 3) return undefined;
  return OBJECT_TYPES.get(s[0])?.[s[2]];
};

// ---- paths ---------------------------------------------------------------------------------

/** "/3/0/1" → [3, 0, 1]; "/" → []. Throws FormatError on anything else. */
export function splitPath(p: string): number[] {
  if (p === "/" || p === "") return [];
  if (!/^\/\d{1,5}(\/\d{1,5}){0,3}\/?$/.test(p)) throw new FormatError(`not an LwM2M path: '${p}'`);
  const ids = p.split("/").filter((x) => x.length).map(Number);
  if (ids.some((x) => x > 65535)) throw new FormatError(`path id out of range: '${p}'`);
  return ids;
}
export const joinPath = (ids: number[]) => "/" + ids.join("/");

// ---- value helpers -------------------------------------------------------------------------

const enc = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
function utf8(b: Uint8Array): string {
  try { return strictUtf8.decode(b); } catch { throw new FormatError("invalid UTF-8"); }
}

function inferType(v: LwM2MValue): ResourceType {
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "float";
  if (typeof v === "bigint") return "integer";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  if (v instanceof Uint8Array) return "opaque";
  if (isObjectLink(v)) return "objlnk";
  throw new FormatError(`unsupported value ${String(v)}`);
}

function parseObjlnk(s: string): [number, number] {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(s);
  if (!m || Number(m[1]) > 65535 || Number(m[2]) > 65535) throw new FormatError(`not an object link: '${s}'`);
  return [Number(m[1]), Number(m[2])];
}

const toSafe = (b: bigint): number | bigint => (b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);

function asBigInt(v: LwM2MValue, what: string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  if (typeof v === "boolean") return v ? 1n : 0n;
  throw new FormatError(`${what}: ${String(v)} is not an integer`);
}

// ---- TLV (§7.4.3) --------------------------------------------------------------------------

const TLV_INSTANCE = 0, TLV_RES_INSTANCE = 1, TLV_MULTIPLE = 2, TLV_RESOURCE = 3;

/** The value bytes of one resource (instance) for TLV. */
export function tlvValueBytes(v: LwM2MValue, type: ResourceType = inferType(v)): Uint8Array {
  switch (type) {
    case "integer": case "time": {
      const x = asBigInt(v, type);
      for (const n of [1, 2, 4, 8]) {
        const lim = 1n << BigInt(n * 8 - 1);
        if (x >= -lim && x < lim) {
          const out = new Uint8Array(n);
          let y = BigInt.asUintN(n * 8, x);
          for (let i = n - 1; i >= 0; i--) { out[i] = Number(y & 0xffn); y >>= 8n; }
          return out;
        }
      }
      throw new FormatError(`integer out of 64-bit range: ${x}`);
    }
    case "unsignedInteger": {
      const x = asBigInt(v, type);
      if (x < 0n) throw new FormatError(`negative unsigned integer ${x}`);
      for (const n of [1, 2, 4, 8]) {
        if (x < 1n << BigInt(n * 8)) {
          const out = new Uint8Array(n);
          let y = x;
          for (let i = n - 1; i >= 0; i--) { out[i] = Number(y & 0xffn); y >>= 8n; }
          return out;
        }
      }
      throw new FormatError(`unsigned integer out of 64-bit range: ${x}`);
    }
    case "float": {
      const f = typeof v === "bigint" ? Number(v) : v;
      if (typeof f !== "number") throw new FormatError(`float: ${String(v)} is not a number`);
      const single = Math.fround(f) === f || Number.isNaN(f);
      const dv = new DataView(new ArrayBuffer(single ? 4 : 8));
      if (single) dv.setFloat32(0, f); else dv.setFloat64(0, f);
      return new Uint8Array(dv.buffer);
    }
    case "boolean":
      if (typeof v === "boolean") return Uint8Array.of(v ? 1 : 0);
      if (v === 0 || v === 1) return Uint8Array.of(v);
      throw new FormatError(`boolean: ${String(v)}`);
    case "objlnk": {
      const [o, i] = parseObjlnk(isObjectLink(v) ? v.objlnk : String(v));
      return Uint8Array.of(o >> 8, o & 0xff, i >> 8, i & 0xff);
    }
    case "opaque":
      if (v instanceof Uint8Array) return v;
      if (typeof v === "string") return enc.encode(v);
      throw new FormatError("opaque value must be bytes");
    case "none": return new Uint8Array(0);
    case "string": case "corelnk":
      if (typeof v === "string") return enc.encode(v);
      if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return enc.encode(String(v));
      throw new FormatError(`string: ${String(v)}`);
  }
}

/** Typed value of TLV value bytes (unknown type → the bytes). */
export function tlvValue(b: Uint8Array, type: ResourceType | undefined): LwM2MValue {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  switch (type) {
    case "integer": case "time":
      if (b.length === 1) return dv.getInt8(0);
      if (b.length === 2) return dv.getInt16(0);
      if (b.length === 4) return dv.getInt32(0);
      if (b.length === 8) return toSafe(dv.getBigInt64(0));
      throw new FormatError(`integer of ${b.length} bytes`);
    case "unsignedInteger":
      if (b.length === 1) return dv.getUint8(0);
      if (b.length === 2) return dv.getUint16(0);
      if (b.length === 4) return dv.getUint32(0);
      if (b.length === 8) return toSafe(dv.getBigUint64(0));
      throw new FormatError(`unsigned integer of ${b.length} bytes`);
    case "float":
      if (b.length === 4) return dv.getFloat32(0);
      if (b.length === 8) return dv.getFloat64(0);
      throw new FormatError(`float of ${b.length} bytes`);
    case "boolean":
      if (b.length !== 1 || b[0] > 1) throw new FormatError("boolean must be one byte 0 or 1");
      return b[0] === 1;
    case "objlnk":
      if (b.length !== 4) throw new FormatError("objlnk must be 4 bytes");
      return objlnk(dv.getUint16(0), dv.getUint16(2));
    case "string": case "corelnk": return utf8(b);
    case "none": return b.slice();
    default: return b.slice();
  }
}

function tlvHeader(kind: number, id: number, len: number): number[] {
  const h: number[] = [];
  let t = kind << 6;
  if (id > 255) t |= 0x20;
  let lenBytes: number[] = [];
  if (len < 8) t |= len;
  else if (len < 0x100) { t |= 0x08; lenBytes = [len]; }
  else if (len < 0x10000) { t |= 0x10; lenBytes = [len >> 8, len & 0xff]; }
  else if (len < 0x1000000) { t |= 0x18; lenBytes = [len >> 16, (len >> 8) & 0xff, len & 0xff]; }
  else throw new FormatError("TLV value longer than 2^24-1");
  h.push(t);
  if (id > 255) h.push(id >> 8, id & 0xff); else h.push(id);
  h.push(...lenBytes);
  return h;
}

function tlv(kind: number, id: number, value: Uint8Array): Uint8Array {
  const h = tlvHeader(kind, id, value.length);
  const out = new Uint8Array(h.length + value.length);
  out.set(h);
  out.set(value, h.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Groups entries by the id at depth d (keeping first-seen order). */
function groupBy(entries: { ids: number[]; e: LwM2MEntry }[], d: number) {
  const g = new Map<number, { ids: number[]; e: LwM2MEntry }[]>();
  for (const x of entries) {
    if (x.ids.length <= d) throw new FormatError(`entry ${x.e.path} is not below the target`);
    const k = x.ids[d];
    if (!g.has(k)) g.set(k, []);
    g.get(k)!.push(x);
  }
  return g;
}

/**
 * TLV payload for a request on basePath: Object Instance TLVs for an object
 * path, Resource / Multiple Resource TLVs for an instance or resource path,
 * a Resource Instance TLV for a resource instance path.
 */
export function encodeTlv(entries: LwM2MEntry[], basePath: string, types: TypeResolver = builtinTypes): Uint8Array {
  const base = splitPath(basePath);
  if (base.length === 0) throw new FormatError("TLV needs an object, instance or resource path");
  const items = entries.map((e) => ({ ids: splitPath(e.path), e }));
  for (const x of items) {
    if (x.ids.length < 3) throw new FormatError(`TLV entry ${x.e.path} is not a resource`);
    if (base.some((id, i) => x.ids[i] !== id)) throw new FormatError(`entry ${x.e.path} is not below ${basePath}`);
  }
  const value = (x: { ids: number[]; e: LwM2MEntry }) => tlvValueBytes(x.e.value, types(x.e.path) ?? inferType(x.e.value));
  const resources = (list: { ids: number[]; e: LwM2MEntry }[]): Uint8Array[] =>
    [...groupBy(list, 2)].map(([rid, rs]) => {
      if (rs.length === 1 && rs[0].ids.length === 3) return tlv(TLV_RESOURCE, rid, value(rs[0]));
      if (rs.some((r) => r.ids.length !== 4)) throw new FormatError(`resource ${rid} mixes single and multiple values`);
      return tlv(TLV_MULTIPLE, rid, concat(rs.map((r) => tlv(TLV_RES_INSTANCE, r.ids[3], value(r)))));
    });
  if (base.length === 1) return concat([...groupBy(items, 1)].map(([iid, list]) => tlv(TLV_INSTANCE, iid, concat(resources(list)))));
  if (base.length === 4) {
    if (items.length !== 1 || items[0].ids.length !== 4) throw new FormatError("one value for a resource instance path");
    return tlv(TLV_RES_INSTANCE, base[3], value(items[0]));
  }
  return concat(resources(items));
}

interface RawTlv { kind: number; id: number; value: Uint8Array }

function parseTlvList(b: Uint8Array): RawTlv[] {
  const out: RawTlv[] = [];
  let p = 0;
  while (p < b.length) {
    const t = b[p++];
    const kind = t >> 6;
    const idLen = t & 0x20 ? 2 : 1;
    const lenType = (t >> 3) & 3;
    if (p + idLen + lenType > b.length) throw new FormatError("truncated TLV header");
    const id = idLen === 2 ? (b[p] << 8) | b[p + 1] : b[p];
    p += idLen;
    let len = t & 7;
    if (lenType > 0) { len = 0; for (let i = 0; i < lenType; i++) len = len * 256 + b[p++]; }
    if (p + len > b.length) throw new FormatError("TLV value runs past the end");
    out.push({ kind, id, value: b.subarray(p, p + len) });
    p += len;
  }
  return out;
}

/** Decodes a TLV payload received for basePath into entries with full paths. */
export function decodeTlv(bytes: Uint8Array, basePath: string, types: TypeResolver = builtinTypes): LwM2MEntry[] {
  const base = splitPath(basePath);
  const out: LwM2MEntry[] = [];
  const leaf = (ids: number[], v: Uint8Array) => out.push({ path: joinPath(ids), value: tlvValue(v, types(joinPath(ids))) });
  const inInstance = (prefix: number[], list: RawTlv[]) => {
    for (const r of list) {
      if (r.kind === TLV_RESOURCE) leaf([...prefix, r.id], r.value);
      else if (r.kind === TLV_MULTIPLE) {
        for (const ri of parseTlvList(r.value)) {
          if (ri.kind !== TLV_RES_INSTANCE) throw new FormatError("a Multiple Resource TLV holds Resource Instance TLVs only");
          leaf([...prefix, r.id, ri.id], ri.value);
        }
      } else throw new FormatError(`unexpected TLV type ${r.kind} inside an object instance`);
    }
  };
  const top = parseTlvList(bytes);
  for (const r of top) {
    if (r.kind === TLV_INSTANCE) {
      if (base.length === 0 || base.length > 2) throw new FormatError("Object Instance TLV for a non-object path");
      if (base.length === 2 && r.id !== base[1]) throw new FormatError("Object Instance TLV for another instance");
      inInstance([base[0], r.id], parseTlvList(r.value));
    } else if (r.kind === TLV_RESOURCE || r.kind === TLV_MULTIPLE) {
      if (base.length < 2 || base.length > 3) throw new FormatError("Resource TLV needs an instance or resource path");
      if (base.length === 3 && r.id !== base[2]) throw new FormatError("Resource TLV for another resource");
      inInstance(base.slice(0, 2), [r]);
    } else {
      if (base.length < 3) throw new FormatError("Resource Instance TLV needs a resource path");
      if (base.length === 4 && r.id !== base[3]) throw new FormatError("Resource Instance TLV for another instance");
      leaf([...base.slice(0, 3), r.id], r.value);
    }
  }
  return out;
}

// ---- plain text (§7.4.1) and opaque (§7.4.2) -----------------------------------------------

function b64decode(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) throw new FormatError("invalid base64");
  return new Uint8Array(Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
}

export function encodeText(v: LwM2MValue, type: ResourceType = inferType(v)): Uint8Array {
  switch (type) {
    case "opaque": return enc.encode(Buffer.from(v instanceof Uint8Array ? v : enc.encode(String(v))).toString("base64"));
    case "boolean": return enc.encode(v === true || v === 1 ? "1" : v === false || v === 0 ? "0" : (() => { throw new FormatError(`boolean: ${String(v)}`); })());
    case "objlnk": return enc.encode(isObjectLink(v) ? v.objlnk : String(v));
    case "integer": case "unsignedInteger": case "time": return enc.encode(asBigInt(v, type).toString());
    case "float":
      if (typeof v !== "number" && typeof v !== "bigint") throw new FormatError(`float: ${String(v)}`);
      return enc.encode(String(v));
    case "none": return new Uint8Array(0);
    default:
      if (v instanceof Uint8Array || isObjectLink(v)) throw new FormatError("plain text of a non-string value needs its type");
      return enc.encode(String(v));
  }
}

export function decodeText(bytes: Uint8Array, type: ResourceType | undefined): LwM2MValue {
  const s = utf8(bytes);
  switch (type) {
    case "integer": case "time": case "unsignedInteger": {
      if (!/^-?\d{1,20}$/.test(s)) throw new FormatError(`not an integer: '${s}'`);
      const x = BigInt(s);
      if (type === "unsignedInteger" ? x < 0n || x >= 1n << 64n : x < -(1n << 63n) || x >= 1n << 63n) throw new FormatError(`integer out of range: ${s}`);
      return toSafe(x);
    }
    case "float":
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new FormatError(`not a float: '${s}'`);
      return Number(s);
    case "boolean":
      if (s !== "0" && s !== "1") throw new FormatError(`not a boolean: '${s}'`);
      return s === "1";
    case "objlnk": parseObjlnk(s); return { objlnk: s };
    case "opaque": return b64decode(s);
    default: return s;
  }
}

// ---- SenML JSON (§7.4.4, RFC 8428) and SenML CBOR (§7.4.5) --------------------------------

const SENML_PATH = /^\/(\d{1,5}(\/\d{1,5}){0,3})?$/;

interface SenmlRecord { bn?: string; bt?: number; n?: string; v?: number | bigint; vs?: string; vb?: boolean; vd?: Uint8Array | string; vlo?: string; t?: number }

function resolveRecords(records: SenmlRecord[], types: TypeResolver): LwM2MEntry[] {
  let bn = "";
  let bt = 0;
  const out: LwM2MEntry[] = [];
  for (const r of records) {
    if (r.bn !== undefined) { if (typeof r.bn !== "string") throw new FormatError("bn must be a string"); bn = r.bn; }
    if (r.bt !== undefined) { if (typeof r.bt !== "number") throw new FormatError("bt must be a number"); bt = r.bt; }
    if (r.n !== undefined && typeof r.n !== "string") throw new FormatError("n must be a string");
    const name = bn + (r.n ?? "");
    if (!SENML_PATH.test(name)) throw new FormatError(`SenML name '${name}' is not an LwM2M path`);
    splitPath(name);
    const present = (["v", "vs", "vb", "vd", "vlo"] as const).filter((k) => r[k] !== undefined);
    if (present.length > 1) throw new FormatError(`record ${name} has more than one value`);
    if (present.length === 0) continue; // a name without value (composite request): no entry
    const type = types(name);
    let value: LwM2MValue;
    if (r.v !== undefined) {
      if (typeof r.v !== "number" && typeof r.v !== "bigint") throw new FormatError("v must be a number");
      value = r.v;
      if (type === "boolean") value = r.v === 1;
    } else if (r.vs !== undefined) {
      if (typeof r.vs !== "string") throw new FormatError("vs must be a string");
      value = type === "opaque" ? b64decode(r.vs) : r.vs;
    } else if (r.vb !== undefined) {
      if (typeof r.vb !== "boolean") throw new FormatError("vb must be a boolean");
      value = r.vb;
    } else if (r.vd !== undefined) {
      value = typeof r.vd === "string" ? b64decode(r.vd) : r.vd instanceof Uint8Array ? r.vd : (() => { throw new FormatError("vd must be data"); })();
    } else {
      if (typeof r.vlo !== "string") throw new FormatError("vlo must be a string");
      parseObjlnk(r.vlo);
      value = { objlnk: r.vlo };
    }
    const entry: LwM2MEntry = { path: name, value };
    if (r.t !== undefined) { if (typeof r.t !== "number") throw new FormatError("t must be a number"); }
    if (r.t !== undefined || r.bt !== undefined || bt !== 0) entry.time = bt + (r.t ?? 0);
    out.push(entry);
  }
  return out;
}

/** Record names for basePath: bn = basePath + "/" and n relative; a single entry on basePath itself gets bn only. */
function recordNames(entries: LwM2MEntry[], basePath: string): { bn?: string; n?: string }[] {
  const base = basePath === "/" ? "" : basePath.replace(/\/$/, "");
  if (entries.length === 1 && entries[0].path === base && base !== "") return [{ bn: base }];
  return entries.map((e, i) => {
    if (e.path !== base && !e.path.startsWith(base + "/")) throw new FormatError(`entry ${e.path} is not below ${basePath}`);
    const rel = e.path.slice(base.length + 1);
    return i === 0 ? { bn: base + "/", n: rel } : { n: rel };
  });
}

function senmlValue(e: LwM2MEntry, types: TypeResolver): [string, LwM2MValue] {
  const type = types(e.path) ?? inferType(e.value);
  const v = e.value;
  switch (type) {
    case "integer": case "unsignedInteger": case "time": return ["v", typeof v === "boolean" ? (v ? 1 : 0) : toSafe(asBigInt(v, type))];
    case "float":
      if (typeof v !== "number" && typeof v !== "bigint") throw new FormatError(`float: ${String(v)}`);
      return ["v", typeof v === "bigint" ? Number(v) : v];
    case "boolean": return ["vb", v === true || v === 1];
    case "opaque": return ["vd", v instanceof Uint8Array ? v : enc.encode(String(v))];
    case "objlnk": return ["vlo", isObjectLink(v) ? v.objlnk : String(v)];
    case "none": return ["vs", ""];
    default:
      if (typeof v === "string") return ["vs", v];
      if (v instanceof Uint8Array) return ["vd", v];
      if (isObjectLink(v)) return ["vlo", v.objlnk];
      return ["vs", String(v)];
  }
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");

export function encodeSenmlJson(entries: LwM2MEntry[], basePath: string, types: TypeResolver = builtinTypes): Uint8Array {
  const names = recordNames(entries, basePath);
  const parts = entries.map((e, i) => {
    const f: string[] = [];
    if (names[i].bn !== undefined) f.push(`"bn":${JSON.stringify(names[i].bn)}`);
    if (names[i].n !== undefined) f.push(`"n":${JSON.stringify(names[i].n)}`);
    const [k, v] = senmlValue(e, types);
    const json = typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? JSON.stringify(b64url(v)) : JSON.stringify(v);
    if (typeof v === "number" && !Number.isFinite(v)) throw new FormatError("SenML JSON cannot carry NaN or Infinity");
    f.push(`"${k}":${json}`);
    if (e.time !== undefined) f.push(`"t":${JSON.stringify(e.time)}`);
    return `{${f.join(",")}}`;
  });
  return enc.encode(`[${parts.join(",")}]`);
}

export function decodeSenmlJson(bytes: Uint8Array | string, types: TypeResolver = builtinTypes): LwM2MEntry[] {
  let doc: unknown;
  try { doc = JSON.parse(typeof bytes === "string" ? bytes : utf8(bytes)); } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(`SenML JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc) || doc.some((r) => typeof r !== "object" || r === null || Array.isArray(r))) throw new FormatError("SenML JSON must be an array of records");
  return resolveRecords(doc as SenmlRecord[], types);
}

// SenML CBOR labels (RFC 8428 §6, Table 6); LwM2M's vlo stays a text key
const CBOR_LABEL: Record<string, number | string> = { bn: -2, bt: -3, n: 0, v: 2, vs: 3, vb: 4, vd: 8, t: 6, vlo: "vlo" };
const CBOR_NAME = new Map<number | string, keyof SenmlRecord>(Object.entries(CBOR_LABEL).map(([k, v]) => [v, k as keyof SenmlRecord]));

type Cborg = { encode(v: unknown, o?: object): Uint8Array; decode(b: Uint8Array, o?: object): unknown };
let cborgModule: Cborg | null = null;
/** cborg is ESM-only ("import" export condition): load its entry file with require(esm). */
export function cborg(): Cborg {
  if (cborgModule) return cborgModule;
  for (const dir of (require as NodeJS.Require).resolve.paths("cborg") ?? []) {
    const file = path.join(dir, "cborg", "cborg.js");
    if (fs.existsSync(file)) { cborgModule = require(file) as Cborg; return cborgModule; }
  }
  throw new Error("the cborg package is not installed");
}

export function encodeSenmlCbor(entries: LwM2MEntry[], basePath: string, types: TypeResolver = builtinTypes): Uint8Array {
  const names = recordNames(entries, basePath);
  const records = entries.map((e, i) => {
    const m = new Map<number | string, unknown>();
    if (names[i].bn !== undefined) m.set(-2, names[i].bn);
    if (names[i].n !== undefined) m.set(0, names[i].n);
    const [k, v] = senmlValue(e, types);
    m.set(CBOR_LABEL[k], v);
    if (e.time !== undefined) m.set(6, e.time);
    return m;
  });
  // keys in insertion order (the TS examples put bn, n, then the value)
  return cborg().encode(records, { mapSorter: () => 0 });
}

export function decodeSenmlCbor(bytes: Uint8Array, types: TypeResolver = builtinTypes): LwM2MEntry[] {
  let doc: unknown;
  try { doc = cborg().decode(bytes, { useMaps: true, rejectDuplicateMapKeys: true }); } catch (e) {
    throw new FormatError(`SenML CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc)) throw new FormatError("SenML CBOR must be an array of records");
  const records = doc.map((r) => {
    if (!(r instanceof Map)) throw new FormatError("SenML CBOR record must be a map");
    const rec: Record<string, unknown> = {};
    for (const [k, v] of r) {
      const name = CBOR_NAME.get(typeof k === "bigint" ? Number(k) : (k as number | string));
      if (name) rec[name] = v;
    }
    return rec as SenmlRecord;
  });
  return resolveRecords(records, types);
}

// ---- CoRE link format (RFC 6690) -----------------------------------------------------------

export interface Link { uri: string; params: Record<string, string | true> }

/** Parses RFC 6690 link-format (§2): <uri>;param[=value] entries separated by commas. */
export function parseLinkFormat(input: Uint8Array | string): Link[] {
  const s = typeof input === "string" ? input : utf8(input);
  const links: Link[] = [];
  let p = 0;
  const ws = () => { while (p < s.length && (s[p] === " " || s[p] === "\n" || s[p] === "\r" || s[p] === "\t")) p++; };
  ws();
  if (p === s.length) return links;
  for (;;) {
    ws();
    if (s[p] !== "<") throw new FormatError(`link-format: '<' expected at ${p}`);
    const end = s.indexOf(">", p);
    if (end < 0) throw new FormatError("link-format: unterminated '<'");
    const link: Link = { uri: s.slice(p + 1, end), params: {} };
    if (/[\s<>"]/.test(link.uri)) throw new FormatError("link-format: bad character in URI");
    p = end + 1;
    while (s[p] === ";") {
      p++;
      const m = /^[A-Za-z0-9!#$&+\-.^_`|~*]+/.exec(s.slice(p));
      if (!m) throw new FormatError(`link-format: parameter name expected at ${p}`);
      const name = m[0];
      p += name.length;
      if (s[p] === "=") {
        p++;
        if (s[p] === '"') {
          let v = "";
          p++;
          for (;;) {
            if (p >= s.length) throw new FormatError("link-format: unterminated quoted string");
            if (s[p] === "\\") { if (p + 1 >= s.length) throw new FormatError("link-format: dangling escape"); v += s[p + 1]; p += 2; continue; }
            if (s[p] === '"') { p++; break; }
            v += s[p++];
          }
          link.params[name] = v;
        } else {
          const t = /^[!#$%&'()*+\-.\/:<=>?@\[\]^_`{|}~A-Za-z0-9]*/.exec(s.slice(p))![0];
          link.params[name] = t;
          p += t.length;
        }
      } else {
        link.params[name] = true;
      }
    }
    links.push(link);
    ws();
    if (p === s.length) return links;
    if (s[p] !== ",") throw new FormatError(`link-format: ',' expected at ${p}`);
    p++;
  }
}

const QUOTED_PARAMS = new Set(["rt", "if", "title", "anchor", "rel", "rev", "type"]);
export function formatLinkFormat(links: Link[]): string {
  return links.map((l) => `<${l.uri}>` + Object.entries(l.params).map(([k, v]) => {
    if (v === true) return `;${k}`;
    const bare = /^[!#$%&'()*+\-.\/:<=>?@\[\]^_`{|}~A-Za-z0-9]+$/.test(v) && !QUOTED_PARAMS.has(k);
    return bare ? `;${k}=${v}` : `;${k}="${v.replace(/(["\\])/g, "\\$1")}"`;
  }).join("")).join(",");
}

// ---- dispatch --------------------------------------------------------------------------------

export type FormatName = "tlv" | "senml-json" | "senml-cbor" | "text" | "opaque";
export const FORMAT_NUMBERS: Record<FormatName, number> = {
  tlv: ContentFormat.TLV, "senml-json": ContentFormat.SENML_JSON, "senml-cbor": ContentFormat.SENML_CBOR,
  text: ContentFormat.TEXT, opaque: ContentFormat.OPAQUE,
};
export function formatNumber(f: FormatName | number): number {
  if (typeof f === "number") return f;
  const n = FORMAT_NUMBERS[f];
  if (n === undefined) throw new Error(`unknown content format '${f}'`);
  return n;
}

/** Decodes a payload of a Content-Format received for basePath. Link format is not entries: use parseLinkFormat. */
export function decodeContent(format: number, bytes: Uint8Array, basePath: string, types: TypeResolver = builtinTypes): LwM2MEntry[] {
  switch (format) {
    case ContentFormat.TLV: return decodeTlv(bytes, basePath, types);
    case ContentFormat.SENML_JSON: return decodeSenmlJson(bytes, types);
    case ContentFormat.SENML_CBOR: return decodeSenmlCbor(bytes, types);
    case ContentFormat.TEXT: return [{ path: basePath, value: decodeText(bytes, types(basePath)) }];
    case ContentFormat.OPAQUE: return [{ path: basePath, value: bytes.slice() }];
    default: throw new FormatError(`unsupported content format ${format}`);
  }
}

export function encodeContent(format: number, entries: LwM2MEntry[], basePath: string, types: TypeResolver = builtinTypes): Uint8Array {
  switch (format) {
    case ContentFormat.TLV: return encodeTlv(entries, basePath, types);
    case ContentFormat.SENML_JSON: return encodeSenmlJson(entries, basePath, types);
    case ContentFormat.SENML_CBOR: return encodeSenmlCbor(entries, basePath, types);
    case ContentFormat.TEXT: case ContentFormat.OPAQUE: {
      if (entries.length !== 1 || entries[0].path !== basePath) throw new FormatError("plain text and opaque carry one value of the target resource");
      const v = entries[0].value;
      if (format === ContentFormat.TEXT) return encodeText(v, types(basePath) ?? inferType(v));
      if (!(v instanceof Uint8Array)) throw new FormatError("opaque needs bytes");
      return v;
    }
    default: throw new FormatError(`unsupported content format ${format}`);
  }
}
