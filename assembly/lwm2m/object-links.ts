// The link-format lists of Objects and Object Instances (RFC 6690) the
// client gives: the Register / Update payload (OMA-TS-LightweightM2M_Core-V1_1
// §6.2.1; registerPayload in client/registration.ts), the Object links of
// Discover and of Bootstrap-Discover (§6.1; operations.ts).
import { LwPath, ID_NONE } from "./formats/entry";
import { LinkWriter, LINK_WRITER_SIZE } from "./formats/link";
import {
  ObjectDef, objectCount, objectAt, instCount, instNext, slotIid, setViewStaging, getBytes, getInt, found, valueLen,
  OBJ_HIDDEN, VER_1_0,
} from "./model";
import { SECURITY_OID, Sec } from "./objects/security";
import { SERVER_OID, Srv } from "./objects/server";

/** 4 bytes of text for link-format values (ver, lwm2m). */
export const LINK_TEXT = memory.data(4);
const TMP_PATH = memory.data(8, 8);
const LINK = memory.data(LINK_WRITER_SIZE, 8);

/** The one LinkWriter of Register, Discover and Bootstrap-Discover, set up on out. */
export function linkWriter(out: usize, cap: i32): LinkWriter {
  const w = changetype<LinkWriter>(LINK);
  w.init(out, cap);
  return w;
}

/** A path in scratch memory (valid until the next call). */
export function tmpPath(oid: u32, iid: u32, rid: u32, riid: u32): LwPath {
  const p = changetype<LwPath>(TMP_PATH);
  p.set(oid, iid, rid, riid);
  return p;
}

/** `;ver=` of an Object whose version is not 1.0. */
export function putVersion(w: LinkWriter, o: ObjectDef): void {
  const v = <u32>o.version;
  if (v == VER_1_0) return;
  store<u8>(LINK_TEXT, <u8>(0x30 + (v >> 8)));
  store<u8>(LINK_TEXT + 1, 0x2e);
  store<u8>(LINK_TEXT + 2, <u8>(0x30 + (v & 0xff)));
  w.attrToken(<u64>0x726576 /* ver */, LINK_TEXT, 3);
}

/**
 * The Objects and Object Instances for the Register / Update payload
 * (§6.2.1): `</1>;ver=1.1,</1/0>,</3/0>`; Objects without instances as
 * `</oid>`. SEC-2: Object 0 (and every OBJ_HIDDEN Object) is never listed.
 * Appends to a LinkWriter the registration code set up (it may have written
 * `</>;rt="oma.lwm2m";ct=...` first). Returns the writer's error state.
 */
export function registerObjectLinks(w: LinkWriter): i32 {
  setViewStaging(false);
  objectLinks(w, false, ID_NONE);
  return w.err;
}

/**
 * `</oid>` (with ver; only for an Object without instances or not version
 * 1.0) and `</oid/iid>` links of every Object (or only `oid`). Register:
 * OBJ_HIDDEN Objects left out (SEC-2). Bootstrap-Discover (`bs`): every
 * Object; Security instances carry ssid (LwM2M Server accounts) and uri,
 * Server instances ssid.
 */
export function objectLinks(w: LinkWriter, bs: bool, only: u32): void {
  for (let i = 0; i < objectCount(); i++) {
    const o = objectAt(i);
    const oid = <u32>o.oid;
    if (bs ? only != ID_NONE && oid != only : (o.flags & OBJ_HIDDEN) != 0) continue;
    if (instCount(o) == 0 || o.version != <u16>VER_1_0) {
      w.link(tmpPath(oid, ID_NONE, ID_NONE, ID_NONE));
      putVersion(w, o);
    }
    for (let s = instNext(o, -1); s; s = instNext(o, <i32>slotIid(s))) {
      const iid = slotIid(s);
      w.link(tmpPath(oid, iid, ID_NONE, ID_NONE));
      if (!bs) continue;
      if (oid == SECURITY_OID) {
        if (getInt(SECURITY_OID, iid, Sec.BootstrapServer) == 0) {
          const ssid = getInt(SECURITY_OID, iid, Sec.ShortServerId);
          if (found) w.attrUint(<u64>0x64697373 /* ssid */, <u64>ssid);
        }
        const u = getBytes(SECURITY_OID, iid, Sec.Uri);
        if (found) w.attrQuoted(<u64>0x697275 /* uri */, u, valueLen);
      } else if (oid == SERVER_OID) {
        const ssid = getInt(SERVER_OID, iid, Srv.ShortServerId);
        if (found) w.attrUint(<u64>0x64697373 /* ssid */, <u64>ssid);
      }
    }
  }
}
