// Test entry: the secure record store (assembly/storage/store.ts) built with a
// smaller value capacity, as a build profile sets it (profiles.json
// CAP_STORE_VALUE; psk-lpwa tried 1152). Same exports as ./storage.ts.
// @ts-ignore: decorator
@global const CAP_STORE_VALUE: i32 = 1152;
export * from "./storage";
export { MAX_VALUE_LEN as maxValueLen } from "../storage/store";
