/** The address action: `ip addr replace|del`, then a gratuitous ARP (arping) for a present IPv4 address. */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  type AddressSpec,
  type ArpingFlavour,
  addressArgv,
  arpingArgv,
  arpingFlavour,
  formatArgv,
  inNetns,
  stripPrefix,
} from "../argv.js";
import {
  type ActionContext,
  type ActionResult,
  dry,
  elapsedSince,
  fromSpawn,
  ipDetail,
  netnsExecFailure,
  signalOf,
} from "../result.js";
import { describeFailure, spawnWithTimeout, truncateOutput } from "../spawn.js";

export const kind = "address";

/** The address action: `ip addr replace|del`, then a gratuitous ARP for a present IPv4 address. */
export async function run(spec: AddressSpec, ctx: ActionContext): Promise<ActionResult> {
  const argv = inNetns(addressArgv(spec), ctx.netns);
  const announce = spec.state === "present" && arpingArgv(spec, "iputils") !== undefined;
  if (ctx.dryRun) {
    return dry(
      "address",
      argv,
      `would run: ${formatArgv(argv)}${announce ? `\nthen announce ${stripPrefix(spec.address)} on ${spec.dev} with a gratuitous ARP (arping)` : ""}`,
    );
  }
  const started = performance.now();
  const r = await spawnWithTimeout(argv, { timeout: spec.timeout, group: false, ...signalOf(ctx) });
  const base = fromSpawn("address", "ip", r, spec.timeout, ipDetail({}));
  if (!base.ok) {
    if (
      spec.state === "absent" &&
      r.exitCode !== undefined &&
      /Address not found|Cannot assign requested address/i.test(r.output)
    ) {
      const { error: _ignored, ...rest } = base;
      return {
        ...rest,
        ok: true,
        output: `${r.output.trimEnd()}\n(${spec.address} was already absent from ${spec.dev})`,
      };
    }
    const nf = netnsExecFailure(r, ctx.netns);
    return nf ? { ...base, error: `ip: ${ipDetail({})(nf)}` } : base;
  }
  if (!announce) return base;

  const lines = [r.output.trimEnd()].filter((l) => l);
  const flavour = await detectArping();
  const arp = flavour ? arpingArgv(spec, flavour) : undefined;
  const remaining = spec.timeout - (performance.now() - started);
  if (!arp) {
    lines.push(
      "arping is not installed: no gratuitous ARP sent (neighbours learn the address on their next ARP)",
    );
  } else if (remaining < 50) {
    lines.push("no time left for the gratuitous ARP (the action's timeout is spent)");
  } else {
    const argvA = inNetns(arp, ctx.netns);
    const a = await spawnWithTimeout(argvA, {
      timeout: Math.min(remaining, 2000),
      group: false,
      ...signalOf(ctx),
    });
    const sent =
      a.exitCode === 0 ||
      /\b[1-9]\d* packets transmitted/.test(a.output) ||
      /\bSent [1-9]\d* probe/.test(a.output);
    lines.push(`$ ${formatArgv(argvA)}`, a.output.trimEnd());
    lines.push(
      sent && !a.timedOut
        ? `gratuitous ARP sent for ${stripPrefix(spec.address)} on ${spec.dev}`
        : `gratuitous ARP failed (the address is in place): arping: ${describeFailure(a, Math.min(remaining, 2000)) ?? "nothing sent"}`,
    );
  }
  return {
    ...base,
    output: truncateOutput(lines.filter((l) => l).join("\n")),
    durationMs: elapsedSince(started),
  };
}

export function describe(a: AddressSpec): string {
  return `address ${a.address} dev ${a.dev} ${a.state}`;
}

/** The full path of a program found on PATH, or undefined. */
export async function findExecutable(
  name: string,
  path = process.env.PATH ?? "",
): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

let arpingProbe: Promise<ArpingFlavour | undefined> | undefined;

/** Which arping is installed, if any (looked up once per process). */
export function detectArping(): Promise<ArpingFlavour | undefined> {
  arpingProbe ??= (async () => {
    if (!(await findExecutable("arping"))) return undefined;
    const r = await spawnWithTimeout(["arping", "--help"], { timeout: 1000 });
    if (r.spawnError) return undefined;
    return arpingFlavour(r.output);
  })();
  return arpingProbe;
}
