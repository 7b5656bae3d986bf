#!/usr/bin/env node
/** The `standby` command. Each command's body lives in its own module and returns the exit code. */
import { Command } from "commander";
import { DEFAULT_CONFIG, runCheck } from "./check.js";
import { processIo } from "./io.js";
import { runSchema } from "./schema.js";
import { runSimulate } from "./simulate.js";

// `standby schema | head` closes the pipe early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

const program = new Command()
  .name("standby")
  .description(
    "Watches redundant parts of servers and networks and fails over to the redundant path when one breaks",
  );

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
  .option("--until <time>", "let timers run past the end of the trace: a duration (60s) or epoch ms")
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

await program.parseAsync(process.argv);
