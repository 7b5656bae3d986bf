import { readdir } from "node:fs/promises";
import { collectorInterfaces } from "../../collectors/index.js";
import type { Config } from "../config/schema.js";

/**
 * Interfaces the config names (a collector's, route `dev`, address `dev`, bond `dev`) that do not exist here.
 * Not fatal — a VLAN or VPN interface may appear later — but said at start, clearly.
 */
export async function missingInterfaces(config: Config, sysNet = "/sys/class/net"): Promise<string[]> {
  let present: Set<string>;
  try {
    present = new Set(await readdir(sysNet));
  } catch {
    return [];
  }
  const named: [string, string][] = [];
  for (const c of config.collectors) {
    for (const dev of collectorInterfaces(c)) named.push([dev, `collector "${c.name}"`]);
  }
  for (const g of config.groups) {
    for (const m of g.members) {
      for (const a of [...m.activate, ...m.deactivate]) {
        const dev =
          "route" in a ? a.route.dev : "address" in a ? a.address.dev : "bond" in a ? a.bond.dev : undefined;
        if (dev) named.push([dev, `group "${g.name}": member "${m.name}"`]);
      }
    }
  }
  return named
    .filter(([dev]) => !present.has(dev))
    .map(([dev, where]) => `${where} names interface "${dev}", which does not exist on this host (yet)`);
}
