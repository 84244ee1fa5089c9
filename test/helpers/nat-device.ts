// A simulated device behind a NAT (test/helpers/nat.ts) in front of a development server: the
// rig of the deep-sleep tests (sleep-keep, observe-sleep), which power the device off and on
// (a new Device on the same flash and SE) and rebind the NAT between wakes.
import { Nat } from "./nat";
import { Device, type DeviceOptions, type FactoryConfig } from "../../host-shim/node/device";
import { NorFlash } from "../../host-shim/node/flash";
import { SimulatedSecureElement } from "../../host-shim/node/se";
import { logText, waitEventName as waitEvent } from "./device-events";

export interface NatRig<O extends DeviceOptions> { dev: Device; nat: Nat; flash: NorFlash; se: SimulatedSecureElement; endpoint: string; opts: O }

/** A device behind a NAT to serverPort, provisioned with config(the NAT's port) and registered, then
 *  body; the device's log is added to a failure; the device and the NAT stopped after. */
export async function withNatDevice<O extends DeviceOptions>(serverPort: number, endpoint: string, opts: O,
    config: (natPort: number) => FactoryConfig, body: (r: NatRig<O>) => Promise<void>): Promise<void> {
  const nat = new Nat(serverPort);
  await nat.start();
  const flash = new NorFlash(), se = new SimulatedSecureElement();
  const r: NatRig<O> = { dev: new Device({ flash, se, ...opts }), nat, flash, se, endpoint, opts };
  try {
    r.dev.start();
    const reg = waitEvent(r.dev, ["registered"]);
    r.dev.provision(config(nat.port));
    await reg;
    await body(r);
  } catch (e) {
    (e as Error).message += `\n--- device log:\n${logText(r.dev)}`;
    throw e;
  } finally {
    r.dev.stop();
    nat.close();
  }
}
