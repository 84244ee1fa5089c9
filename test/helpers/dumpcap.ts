// A capture of one UDP port on loopback with dumpcap, for tshark as the
// oracle of a test that also has a record of its own (the servers' counters):
// a missing tshark/dumpcap leaves that record alone loudly locally and fails
// under REQUIRE_PEERS=1 (CI), as requirePeer does.
import { spawn } from "node:child_process";
import { havePeer } from "./peers";
import { PeerProcess } from "./openssl-peer";

/** dumpcap on lo for `udp port <port>` into `file`, once it is capturing; null when tshark or dumpcap is missing. */
export async function captureUdpPort(port: number, file: string, what: string): Promise<PeerProcess | null> {
  if (!havePeer("dumpcap") || !havePeer("tshark")) {
    const msg = `PEER MISSING: 'tshark'/'dumpcap' not installed: ${what} checked without tshark`;
    if (process.env.REQUIRE_PEERS === "1") throw new Error(msg + " (REQUIRE_PEERS=1)");
    console.error(`\n*** ${msg} ***\n`);
    return null;
  }
  const args = ["-q", "-i", "lo", "-f", `udp port ${port}`, "-w", file];
  const p = new PeerProcess(spawn("dumpcap", args, { stdio: ["pipe", "pipe", "pipe"] }), port, ["dumpcap", ...args].join(" "));
  await p.waitFor(/Capturing on/, 5000);
  await new Promise((r) => setTimeout(r, 150)); // the BPF filter is attached right after the message
  return p;
}

/** Stops a capture and waits until the file is complete. */
export async function stopCapture(p: PeerProcess): Promise<void> {
  await new Promise((res) => setTimeout(res, 300)); // the last datagrams reach the capture
  if (p.proc.exitCode !== null) return;
  const exited = new Promise((res) => p.proc.once("exit", res));
  p.proc.kill("SIGTERM");
  await exited;
}
