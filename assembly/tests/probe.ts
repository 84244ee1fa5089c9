// Test entry for the probe (assembly/firmware/probe.ts) until the firmware
// entry re-exports it (`export * from "./probe";` in assembly/firmware/main.ts).
export { scratch, scratchSize } from "./_scratch";
export * from "../firmware/probe";
