// Test entry for assembly/lwm2m/formats: thin wrappers the JS tests drive step
// by step (encoder calls, decoder iteration and typed accessors), plus the
// number / base64 / UTF-8 / path / link-format helpers. Paths cross the
// boundary as four ids (65535 = absent) or packed into a u64 (oid in the low 16 bits).
export { scratch, scratchSize } from "./_scratch";
import {
  LwEncoder, LwDecoder, LwPath, LW_ENCODER_SIZE, LW_DECODER_SIZE, pathParse, pathAppendSegment, pathFormat,
  formatErrorToCoap,
} from "../lwm2m/formats/entry";
import { LinkWriter, LINK_WRITER_SIZE, parseAttribute, attrHasValue, attrInt, attrFloat } from "../lwm2m/formats/link";
import {
  scanNumber, numErr, decimalToF64, decimalToI64, decimalToU64, formatF64, formatI64, formatU64, base64Encode,
  base64Decode, validUtf8,
} from "../lwm2m/formats/numbers";

const ENC = memory.data(LW_ENCODER_SIZE, 8);
const DEC = memory.data(LW_DECODER_SIZE, 8);
const LINK = memory.data(LINK_WRITER_SIZE, 8);
const P = memory.data(8, 8);
const Q = memory.data(8, 8);

export const ENCODER_SIZE: i32 = LW_ENCODER_SIZE;
export const DECODER_SIZE: i32 = LW_DECODER_SIZE;

// @ts-ignore: decorator
@inline function enc(): LwEncoder { return changetype<LwEncoder>(ENC); }
// @ts-ignore: decorator
@inline function dec(): LwDecoder { return changetype<LwDecoder>(DEC); }
function path(o: u32, i: u32, r: u32, ri: u32): LwPath {
  const p = changetype<LwPath>(P);
  p.set(o, i, r, ri);
  return p;
}
function packed(p: LwPath): u64 { return load<u64>(changetype<usize>(p)); }

// -- encoder --
export function encInit(format: u32, buf: usize, cap: i32): i32 { return enc().init(format, buf, cap); }
export function encBegin(o: u32, i: u32, r: u32, ri: u32): i32 { return enc().begin(path(o, i, r, ri)); }
export function encInt(o: u32, i: u32, r: u32, ri: u32, v: i64): i32 { return enc().writeInt(path(o, i, r, ri), v); }
export function encUint(o: u32, i: u32, r: u32, ri: u32, v: u64): i32 { return enc().writeUint(path(o, i, r, ri), v); }
export function encFloat(o: u32, i: u32, r: u32, ri: u32, v: f64): i32 { return enc().writeFloat(path(o, i, r, ri), v); }
export function encBool(o: u32, i: u32, r: u32, ri: u32, v: i32): i32 { return enc().writeBool(path(o, i, r, ri), v != 0); }
export function encTime(o: u32, i: u32, r: u32, ri: u32, v: i64): i32 { return enc().writeTime(path(o, i, r, ri), v); }
export function encString(o: u32, i: u32, r: u32, ri: u32, p: usize, n: i32): i32 { return enc().writeString(path(o, i, r, ri), p, n); }
export function encOpaque(o: u32, i: u32, r: u32, ri: u32, p: usize, n: i32): i32 { return enc().writeOpaque(path(o, i, r, ri), p, n); }
export function encCorelnk(o: u32, i: u32, r: u32, ri: u32, p: usize, n: i32): i32 { return enc().writeCorelnk(path(o, i, r, ri), p, n); }
export function encObjlnk(o: u32, i: u32, r: u32, ri: u32, oid: u32, iid: u32): i32 { return enc().writeObjlnk(path(o, i, r, ri), oid, iid); }
export function encBeginInstance(o: u32, i: u32): i32 { return enc().beginInstance(path(o, i, 0xffff, 0xffff)); }
export function encEndInstance(): i32 { return enc().endInstance(); }
export function encBeginMultiple(o: u32, i: u32, r: u32): i32 { return enc().beginMultiple(path(o, i, r, 0xffff)); }
export function encEndMultiple(): i32 { return enc().endMultiple(); }
export function encSetTime(t: f64): void { enc().setTime(t); }
export function encSetBaseTime(t: f64): void { enc().setBaseTime(t); }
export function encFinish(): i32 { return enc().finish(); }

// -- decoder --
export function decInit(format: u32, buf: usize, len: i32, o: u32, i: u32, r: u32, ri: u32, scratchPtr: usize, cap: i32, rawNames: i32): i32 {
  dec().rawNames = rawNames != 0;
  return dec().init(format, buf, len, path(o, i, r, ri), scratchPtr, cap);
}
export function decNext(): i32 { return dec().next(); }
export function decReset(): void { dec().reset(); }
export function decKind(): i32 { return dec().kind; }
export function decHint(): i32 { return dec().hint; }
export function decPath(): u64 { return packed(dec().path); }
export function decValPtr(): usize { return dec().valPtr; }
export function decValLen(): i32 { return dec().valLen; }
export function decTime(): f64 { return dec().time; }
export function decErr(): i32 { return dec().err; }
export function decStrPtr(): usize { return dec().strPtr; }
export function decNamePtr(): usize { return dec().nameBuf; }
export function decNameLen(): i32 { return dec().nameLen; }
export function decAsInt(): i64 { return dec().asInt(); }
export function decAsTime(): i64 { return dec().asTime(); }
export function decAsUint(): u64 { return dec().asUint(); }
export function decAsFloat(): f64 { return dec().asFloat(); }
export function decAsBool(): i32 { return dec().asBool() ? 1 : 0; }
export function decAsObjlnk(): u32 { return dec().asObjlnk(); }
export function decAsString(): i32 { return dec().asString(); }
export function decAsCorelnk(): i32 { return dec().asCorelnk(); }
export function decAsOpaque(): i32 { return dec().asOpaque(); }
export function decCheck(type: i32): i32 { return dec().check(type); }

let lastErr: i32 = 0;

// -- paths --
/** Packed path; the error (or 0) in numLastErr(). */
export function pathParseText(p: usize, n: i32): u64 {
  const q = changetype<LwPath>(Q);
  lastErr = pathParse(q, p, n);
  return packed(q);
}
export function pathClear(): void { changetype<LwPath>(Q).clear(); }
export function pathAppend(p: usize, n: i32): i32 { return pathAppendSegment(changetype<LwPath>(Q), p, n); }
export function pathGet(): u64 { return packed(changetype<LwPath>(Q)); }
export function pathLevel(): i32 { return changetype<LwPath>(Q).level(); }
export function pathFormatTo(o: u32, i: u32, r: u32, ri: u32, dst: usize): i32 { return pathFormat(path(o, i, r, ri), dst); }

// -- numbers --
export function numLastErr(): i32 { return lastErr; }
/** Parses the whole text as a number (JSON grammar) to binary64; lastErr set (-1 syntax). */
export function parseF64(p: usize, n: i32): f64 {
  if (scanNumber(p, p + <usize>n) != p + <usize>n) { lastErr = -1; return 0; }
  const v = decimalToF64();
  lastErr = numErr;
  return v;
}
export function parseI64(p: usize, n: i32): i64 {
  if (scanNumber(p, p + <usize>n) != p + <usize>n) { lastErr = -1; return 0; }
  const v = decimalToI64();
  lastErr = numErr;
  return v;
}
export function parseU64(p: usize, n: i32): u64 {
  if (scanNumber(p, p + <usize>n) != p + <usize>n) { lastErr = -1; return 0; }
  const v = decimalToU64();
  lastErr = numErr;
  return v;
}
export function fmtF64(v: f64, dst: usize): i32 { return formatF64(dst, v); }
export function fmtI64(v: i64, dst: usize): i32 { return formatI64(dst, v); }
export function fmtU64(v: u64, dst: usize): i32 { return formatU64(dst, v); }
export function b64Encode(src: usize, n: i32, dst: usize, url: i32): i32 { return base64Encode(src, n, dst, url != 0); }
export function b64Decode(src: usize, n: i32, dst: usize, cap: i32): i32 { return base64Decode(src, n, dst, cap); }
export function utf8Valid(p: usize, n: i32): i32 { return validUtf8(p, n) ? 1 : 0; }
export function coapCode(err: i32, decoding: i32): u32 { return formatErrorToCoap(err, decoding != 0); }

// -- link format --
// @ts-ignore: decorator
@inline function link(): LinkWriter { return changetype<LinkWriter>(LINK); }
export function linkInit(buf: usize, cap: i32): void { link().init(buf, cap); }
export function linkPath(o: u32, i: u32, r: u32, ri: u32): i32 { return link().link(path(o, i, r, ri)); }
export function linkText(p: usize, n: i32): i32 { return link().linkText(p, n); }
/** Attribute names by index: 0 pmin, 1 pmax, 2 gt, 3 lt, 4 st, 5 dim, 6 ssid, 7 ct, 8 ver, 9 rt, 10 uri, 11 epmin, 12 epmax. */
function attrNameOf(k: i32): string {
  switch (k) {
    case 0: return "pmin";
    case 1: return "pmax";
    case 2: return "gt";
    case 3: return "lt";
    case 4: return "st";
    case 5: return "dim";
    case 6: return "ssid";
    case 7: return "ct";
    case 8: return "ver";
    case 9: return "rt";
    case 10: return "uri";
    case 11: return "epmin";
  }
  return "epmax";
}
export function linkAttrUint(k: i32, v: u64): i32 { return link().attrUint(attrNameOf(k), v); }
export function linkAttrFloat(k: i32, v: f64): i32 { return link().attrFloat(attrNameOf(k), v); }
export function linkAttrToken(k: i32, p: usize, n: i32): i32 { return link().attrToken(attrNameOf(k), p, n); }
export function linkAttrQuoted(k: i32, p: usize, n: i32): i32 { return link().attrQuoted(attrNameOf(k), p, n); }
export function linkAttrFlag(k: i32): i32 { return link().attr(attrNameOf(k)); }
export function linkFinish(): i32 { return link().finish(); }
export function attrParse(p: usize, n: i32): i32 { return parseAttribute(p, n); }
export function attrHas(): i32 { return attrHasValue ? 1 : 0; }
export function attrIntValue(): u32 { return attrInt; }
export function attrFloatValue(): f64 { return attrFloat; }
