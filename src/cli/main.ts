#!/usr/bin/env node
/** The `standby` command. Each command's body lives in its own module and returns the exit code. */
import { Command } from "commander";
import { DEFAULT_CONFIG, runCheck } from "./commands/check.js";
import { runCollect } from "./commands/collect.js";
import { runControl, runEvents, runStatus } from "./commands/control.js";
import { runDaemon } from "./commands/run.js";
import { runSchema } from "./commands/schema.js";
import { runSimulate } from "./commands/simulate.js";
import { processIo } from "./io.js";
import { VERSION } from "./version.js";

// `standby schema | head` closes the pipe early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

const program = new Command()
  .name("standby")
  .description(
    "Watches redundant parts of servers and networks and fails over to the redundant path when one breaks",
  )
  .version(`standby ${VERSION} (Node.js ${process.versions.node})`, "-V, --version");

program
  .command("check")
  .description(
    `validate the config and its rule files without running (default ${DEFAULT_CONFIG}); ` +
      "FILEs named are checked as rule files",
  )
  .option("-c, --config <file>", "the config file")
  .argument("[files...]", "rule files to check")
  .action(async (files: string[], opts: { config?: string }) => {
    process.exitCode = await runCheck({ files, ...(opts.config ? { config: opts.config } : {}) }, processIo);
  });

program
  .command("schema")
  .description("print the JSON Schema of standby.yaml (for editors)")
  .option("--rules", "the schema of a rule file instead")
  .action((opts: { rules?: boolean }) => {
    process.exitCode = runSchema({ rules: opts.rules === true }, processIo);
  });

program
  .command("simulate")
  .description(
    "feed a sample trace (one JSON sample a line) through the real engine and controllers; print every rule " +
      "transition and group decision with its time and reason",
  )
  .requiredOption("-c, --config <file>", "the config file")
  .requiredOption("-t, --trace <file>", "the trace: JSON lines {ts, metric, labels, value|state}")
  .option("--json", "print events exactly as the event log writes them")
  .option(
    "--until <time>",
    "after the trace's last entry, let timers (for, hold, stale_after, expiries) run on: a duration past the last " +
      "entry (30s) or an absolute time in epoch ms; without it the simulation ends at the last entry",
  )
  .option("--quiet <kinds>", "leave these event kinds out, comma-separated (e.g. rule,health)")
  .action(async (opts: { config: string; trace: string; json?: boolean; until?: string; quiet?: string }) => {
    process.exitCode = await runSimulate(
      {
        config: opts.config,
        trace: opts.trace,
        json: opts.json === true,
        ...(opts.until !== undefined ? { until: opts.until } : {}),
        ...(opts.quiet ? { quiet: opts.quiet.split(",").map((k) => k.trim()) } : {}),
      },
      processIo,
    );
  });

program
  .command("run")
  .description("run the monitor: collectors, rules, group controllers and actions (SIGHUP reloads)")
  .option("-c, --config <file>", "the config file", DEFAULT_CONFIG)
  .option("--dry-run", "decide and log everything, run no action")
  .option("--view", "print a readable live view of events on stdout (logs stay JSON on stderr)")
  .option("--log-level <level>", "debug, info, warn or error", "info")
  .action(async (opts: { config: string; dryRun?: boolean; view?: boolean; logLevel: string }) => {
    process.exitCode = await runDaemon(
      {
        config: opts.config,
        dryRun: opts.dryRun === true,
        view: opts.view === true,
        logLevel: opts.logLevel,
      },
      processIo,
    );
    process.exit();
  });

program
  .command("collect")
  .description("print what every collector sees now (like telegraf --test); nothing is evaluated or run")
  .option("-c, --config <file>", "the config file", DEFAULT_CONFIG)
  .option("--once", "run each polling collector once (the only mode)")
  .option("--for <ms>", "how long stream collectors (probes, link watcher) run, in ms", "1500")
  .option("--json", "one JSON sample a line (a trace for `standby simulate`)")
  .option("--only <names>", "only these collectors, comma-separated")
  .action(async (opts: { config: string; for: string; json?: boolean; only?: string }) => {
    process.exitCode = await runCollect(
      {
        config: opts.config,
        streamMs: Math.max(0, Number(opts.for) || 0),
        json: opts.json === true,
        ...(opts.only ? { only: opts.only.split(",").map((x) => x.trim()) } : {}),
      },
      processIo,
    );
    process.exit();
  });

const SOCKET_HELP = "the daemon's API socket (default: api.socket of the config, else /run/standby/api.sock)";
const CONFIG_HELP = "the config file (only its api: block is read: the socket, or the TCP address and token)";

program
  .command("status")
  .description("groups, active members, each member's health and the rules behind it, last events")
  .option("-c, --config <file>", CONFIG_HELP, DEFAULT_CONFIG)
  .option("--socket <path>", SOCKET_HELP)
  .option("--json", "the raw status JSON")
  .action(async (opts: { config: string; json?: boolean; socket?: string }) => {
    process.exitCode = await runStatus(
      { config: opts.config, json: opts.json === true, ...(opts.socket ? { socket: opts.socket } : {}) },
      processIo,
    );
  });

program
  .command("events")
  .description("the daemon's events (the last 50, or --since); -f follows new ones live, like journalctl -f")
  .option("-c, --config <file>", CONFIG_HELP, DEFAULT_CONFIG)
  .option("--socket <path>", SOCKET_HELP)
  .option("-f, --follow", "keep printing events as they happen, until interrupted")
  .option("--since <when>", "events since a duration ago (1h, 30m) or a time (2026-12-01T10:00:00Z)")
  .option("--group <group>", "only this group's events")
  .option("--json", "one JSON event a line, as the event log has them")
  .action(
    async (opts: {
      config: string;
      socket?: string;
      follow?: boolean;
      since?: string;
      group?: string;
      json?: boolean;
    }) => {
      process.exitCode = await runEvents(opts, processIo);
      process.exit();
    },
  );

const control = (name: string, description: string, extra?: (c: Command) => Command) => {
  let cmd = program
    .command(`${name} <group>${name === "pin" ? " <member>" : ""}`)
    .description(description)
    .option("-c, --config <file>", CONFIG_HELP, DEFAULT_CONFIG)
    .option("--socket <path>", SOCKET_HELP)
    .option("--reason <text>", "why, in the event log and the daemon's log");
  if (extra) cmd = extra(cmd);
  cmd.action(async (group: string, ...rest: unknown[]) => {
    const member = name === "pin" ? (rest[0] as string) : undefined;
    const opts = (name === "pin" ? rest[1] : rest[0]) as Record<string, unknown> & { config: string };
    const body: Record<string, unknown> = {};
    if (member) body.member = member;
    if (typeof opts.to === "string") body.member = opts.to;
    if (typeof opts.for === "string") body.for = opts.for;
    if (opts.force === true) body.force = true;
    if (typeof opts.reason === "string") body.reason = opts.reason;
    process.exitCode = await runControl(
      {
        config: opts.config,
        group,
        command: name,
        body,
        ...(typeof opts.socket === "string" ? { socket: opts.socket } : {}),
      },
      processIo,
    );
  });
};
control(
  "failover",
  "switch away from the active member now (to the best other member, or --to) and stay there until failback, unpin or --for",
  (c) =>
    c
      .option("--to <member>", "the member to switch to")
      .option("--for <duration>", "automatic failback may undo it after this long (e.g. 1h)"),
);
control("failback", "switch to the most preferred healthy member now (any failback mode)");
control("pin", "make MEMBER the preferred member (switching to it now), optionally for a while", (c) =>
  c
    .option("--for <duration>", "the pin expires after this long (e.g. 2h)")
    .option("--force", "pin even an unhealthy member"),
);
control("unpin", "remove the pin; the normal priority order applies again");
control("freeze", "stop automatic switching of the group");
control("unfreeze", "resume automatic switching");

await program.parseAsync(process.argv);
