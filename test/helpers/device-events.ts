// Waiting on a simulated Device (host-shim/node/device.ts): its log as text,
// and the next client event by name, with the device's log in the error when
// it does not come.
import type { ClientEvent, Device } from "../../host-shim/node/device";

/** The device's log lines from line `from` on, one per line. */
export const logText = (dev: Device, from = 0): string => dev.logs.slice(from).map((l) => l.text).join("\n");

/** The first client event named `names` (one or several) that `pred` accepts; rejects after `ms` with the device's log. */
export function waitEvent(dev: Device, names: string | string[], ms = 30000, pred: (e: ClientEvent) => boolean = () => true): Promise<ClientEvent> {
  const wanted = typeof names === "string" ? [names] : names;
  return new Promise((res, rej) => {
    const timer = setTimeout(() => { dev.off("event", on); rej(new Error(`no ${wanted.join("/")} in ${ms} ms:\n${logText(dev)}`)); }, ms);
    const on = (e: ClientEvent) => {
      if (!wanted.includes(e.name) || !pred(e)) return;
      clearTimeout(timer);
      dev.off("event", on);
      res(e);
    };
    dev.on("event", on);
  });
}

/** As waitEvent, resolving to the event's name. */
export const waitEventName = async (dev: Device, names: string | string[], ms?: number): Promise<string> => (await waitEvent(dev, names, ms)).name;
