// Test entry for the probe (assembly/probe/probe.ts) with asserts kept.
// `lwm2m-wasm probe` and the probe tests run build/probe.wasm, the same source
// built like the firmware release (scripts/build.mjs buildProbe).
export { scratch, scratchSize } from "./_scratch";
export * from "../probe/probe";
