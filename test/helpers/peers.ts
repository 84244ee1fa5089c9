// Independent peers (OpenSSL, GnuTLS, libcoap, tshark) are installed by
// .ci/run. Locally a missing peer skips its test LOUDLY; with REQUIRE_PEERS=1
// (CI) a missing peer fails the test.
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";

export function havePeer(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).status === 0;
}

/** Returns true when the test may go on; otherwise skips (or fails under REQUIRE_PEERS=1). */
export function requirePeer(t: TestContext, command: string): boolean {
  if (havePeer(command)) return true;
  const msg = `PEER MISSING: '${command}' is not installed; install it (see .ci/run) to run this test`;
  if (process.env.REQUIRE_PEERS === "1") throw new Error(msg + " (REQUIRE_PEERS=1)");
  console.error(`\n*** ${msg} — SKIPPING ***\n`);
  t.skip(msg);
  return false;
}
