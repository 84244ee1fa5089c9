// `openssl s_server -dtls1_2` on a free port of 127.0.0.1: started, waited for
// (it prints ACCEPT once the socket is bound), fed on stdin (its stdin goes
// to the client; `R` asks for renegotiation), and killed on teardown. Its
// stdout/stderr are kept for assertions and failure messages.
import { spawn, type ChildProcess } from "node:child_process";
import { freeUdpPort } from "./dtls-harness";

export class PeerProcess {
  stdout = "";
  stderr = "";
  exited: number | null = null;
  private listeners: (() => void)[] = [];

  constructor(readonly proc: ChildProcess, readonly port: number, readonly commandLine: string) {
    proc.stdout!.on("data", (d) => { this.stdout += d.toString("latin1"); this.notify(); });
    proc.stderr!.on("data", (d) => { this.stderr += d.toString("latin1"); this.notify(); });
    proc.on("exit", (code) => { this.exited = code ?? -1; this.notify(); });
    proc.stdin!.on("error", () => {});
  }

  private notify(): void {
    for (const l of this.listeners.splice(0)) l();
  }

  get output(): string {
    return this.stdout + this.stderr;
  }

  /** Resolves when the combined output matches re. */
  waitFor(re: RegExp, ms = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`peer did not print ${re} within ${ms} ms; command: ${this.commandLine}\n--- output:\n${this.output}`)), ms);
      const check = () => {
        const m = this.output.match(re);
        if (m) { clearTimeout(t); resolve(m[0]); return; }
        if (this.exited !== null) { clearTimeout(t); reject(new Error(`peer exited (${this.exited}) before printing ${re}; command: ${this.commandLine}\n--- output:\n${this.output}`)); return; }
        this.listeners.push(check);
      };
      check();
    });
  }

  write(text: string): void {
    this.proc.stdin!.write(text);
  }

  async stop(): Promise<void> {
    if (this.exited !== null) return;
    const done = new Promise<void>((res) => this.proc.once("exit", () => res()));
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 1000);
    await done;
    clearTimeout(t);
  }
}

/** Spawn `cmd args` with the port substituted for "{PORT}", wait for `ready` in its output. */
export async function startPeer(cmd: string, args: string[], ready: RegExp, port?: number): Promise<PeerProcess> {
  const p = port ?? (await freeUdpPort());
  const a = args.map((s) => s.replace("{PORT}", String(p)));
  const proc = spawn(cmd, a, { stdio: ["pipe", "pipe", "pipe"] });
  const peer = new PeerProcess(proc, p, [cmd, ...a].join(" "));
  await peer.waitFor(ready, 5000);
  return peer;
}

/** openssl s_server -dtls1_2 -accept 127.0.0.1:PORT <args>; ready at "ACCEPT". */
export function startOpensslServer(args: string[]): Promise<PeerProcess> {
  return startPeer("openssl", ["s_server", "-dtls1_2", "-accept", "127.0.0.1:{PORT}", ...args], /ACCEPT/);
}
