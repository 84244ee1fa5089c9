// `npm start` (the README's main job) runs this flow: it must go through,
// bootstrap and registration both over DTLS-PSK.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runDemo, DEFAULT_DEMO } from "../server/demo";
import { profileHas, PROFILE } from "./helpers/profile";

test("npm start: servers + device: bootstrap and register over DTLS-PSK, Read /3/0, observe with notifications, de-register; then a Security Mode 4 device: bootstrap, EST enrolment, register with the enrolled certificate, Read, de-register", async () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.join(" ")); };
  let code: number;
  try { code = await runDemo(DEFAULT_DEMO); } finally { console.log = log; }
  assert.equal(code, 0, lines.join("\n"));
  for (const step of [
    /Bootstrap-Request from \S+ \(DTLS, PSK identity 'lwm2m-wasm-demo-bs'\)/, /Bootstrap-Finish \/bs -> 2\.04/,
    /registered \/rd\/\S+ .* \(DTLS, PSK identity 'lwm2m-wasm-demo'\)/, /Read \/3\/0 -> 2\.05/, /notification \/3\/0\/9 \(battery level\) = 90/, /deregistered/,
    // issue 8: the Security Mode 4 device, on a build profile with EST; a profile without says it is left out
    ...(profileHas("est") ? [/EST: enrolment for ssid=105/, /event enrolled/, /lwm2m-wasm-est-idevid registered with the EST-enrolled certificate \(.*CN=lwm2m-wasm-est-idevid/,
      /Read \/3\/0 of lwm2m-wasm-est-idevid -> 2\.05/, /done: Security Mode 4 device/] : [new RegExp(`build profile ${PROFILE} has no EST \\(PROFILE_NO_EST\\)`)])]) {
    assert.ok(lines.some((l) => step.test(l)), `missing step ${step}\n${lines.join("\n")}`);
  }
});
