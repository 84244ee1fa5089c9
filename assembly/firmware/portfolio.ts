// LwM2M Portfolio Object (ID 16, urn:oma:lwm2m:oma:16, version 1.0): the
// application Object of this firmware that LwM2M Servers may Create and
// Delete instances of (OMA-TS-LightweightM2M_Core-V1_1 §6.3 "Create",
// "Delete"; an instance change triggers a Registration Update, §6.2.2). It
// also shows that a new Object is a resource table plus optional handlers.
//   0 Identity       String, RW, Multiple, Mandatory
//   1 Get Auth Data  Execute, Optional
//   2 Auth Data      Opaque, R, Multiple, Optional
//   3 Auth Status    Integer, R, Multiple, Optional
import {
  defineObject, RES_R, RES_W, RES_E, RES_MANDATORY, RES_MULTIPLE, T_STRING, T_OPAQUE, T_INT, OBJ_MULTI, OBJ_SERVER_CREATE,
  VER_1_0,
} from "../lwm2m/model";

export const PORTFOLIO_OID: u32 = 16;

const TABLE = memory.data<u32>([
  0 | T_STRING | RES_R | RES_W | RES_MANDATORY | RES_MULTIPLE, 4 << 16 | 32,
  1 | RES_E, 0,
  2 | T_OPAQUE | RES_R | RES_MULTIPLE, 2 << 16 | 32,
  3 | T_INT | RES_R | RES_MULTIPLE, 2 << 16,
]);

export function portfolioDefine(): i32 {
  return defineObject(PORTFOLIO_OID, VER_1_0, TABLE, 4, 2, OBJ_MULTI | OBJ_SERVER_CREATE);
}
