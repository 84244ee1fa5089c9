// Test entry for the secure record store (assembly/storage/store.ts).
export { scratch, scratchSize } from "./_scratch";
export {
  storeMount as mount, storeFormat as format, storeGet as get, storeSize as size,
  storePut as put, storeDelete as del, storeBegin as begin, storeCommit as commit,
  storeAbort as abort, storeFreeBytes as freeBytes, storeGcCount as gcCount,
  storeRecordCount as recordCount,
} from "../storage/store";
