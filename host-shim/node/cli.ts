// `npx lwm2m-wasm <command>`: the simulator's command line.
//   boot [--state DIR]   boot the firmware: DRBG health, SE self-test, flash mount
import { existsSync } from "node:fs";
import { Device, FIRMWARE_PATH } from "./device";
import { BootStatus } from "./status";

const COLORS: Record<string, string> = { error: "\x1b[31m", warn: "\x1b[33m", info: "\x1b[36m", debug: "\x1b[90m" };
const useColor = process.stdout.isTTY;

function printLog(levelName: string, text: string) {
  const tag = `[${levelName}]`.padEnd(8);
  console.log(useColor ? `${COLORS[levelName] ?? ""}${tag}\x1b[0m ${text}` : `${tag} ${text}`);
}

function option(args: string[], name: string, fallback?: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

function boot(args: string[]): number {
  if (!existsSync(FIRMWARE_PATH)) {
    console.error(`no firmware at ${FIRMWARE_PATH}: run 'npm run build' first`);
    return 2;
  }
  const stateDir = option(args, "--state", "state");
  console.log(`lwm2m-wasm simulator: booting ${FIRMWARE_PATH} (state in ${stateDir}/)`);
  const device = new Device({ stateDir });
  device.on("log", (e) => printLog(e.levelName, e.text));
  const status = device.start();
  device.stop();
  const ok = (bit: number) => ((status & bit) !== 0 ? "ok" : "FAILED");
  console.log(`boot status: DRBG ${ok(BootStatus.RngHealthy)}, SE ${ok(BootStatus.SeHealthy)}, flash ${ok(BootStatus.FlashMounted)}`);
  const all = BootStatus.RngHealthy | BootStatus.SeHealthy | BootStatus.FlashMounted;
  return (status & all) === all ? 0 : 1;
}

const USAGE = `usage: lwm2m-wasm <command> [options]
  boot [--state DIR]    boot the firmware in the simulator and print each step`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  switch (command) {
    case "boot": return boot(rest);
    case undefined: case "-h": case "--help": console.log(USAGE); return command ? 0 : 2;
    default: console.error(`unknown command '${command}'\n${USAGE}`); return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
