import type { Server } from "node:http";
import { pino } from "pino";
import { startApi } from "../api/server.js";
import type { Log } from "../collector.js";
import { formatError, loadConfig } from "../config/load.js";
import { resolveSecret } from "../config/secrets.js";
import { Daemon } from "../daemon/daemon.js";
import { formatEvent } from "./format.js";
import type { Io } from "./io.js";

export interface RunOptions {
  readonly config: string;
  readonly dryRun?: boolean;
  /** A readable live view of events on stdout (logs stay JSON on stderr). */
  readonly view?: boolean;
  readonly logLevel?: string;
}

/**
 * `standby run`: the daemon. Runs until SIGTERM/SIGINT; SIGHUP reloads the config (an invalid one is refused
 * and the old keeps running). Logs are JSON lines on stderr (journald keeps them); events go to the event log
 * in state_dir, and with --view also to stdout as text.
 */
export async function runDaemon(opts: RunOptions, io: Io): Promise<number> {
  const loaded = await loadConfig(opts.config);
  if (!loaded.ok) {
    for (const e of loaded.errors) io.err(formatError(e));
    return 1;
  }
  const log = pino(
    {
      level: opts.logLevel ?? "info",
      base: { host: loaded.config.host },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 2, sync: true }),
  ) as unknown as Log & { fatal: (o: object, m?: string) => void };
  for (const w of loaded.warnings ?? []) log.warn({ warning: formatError(w) }, "config warning");
  const daemon = new Daemon({
    config: loaded.config,
    log,
    dryRun: opts.dryRun === true,
    ...(opts.view ? { onEvent: (e) => io.out(formatEvent(e, daemon.startedAt)) } : {}),
  });
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, "standby cannot start");
    io.err(`standby: cannot start: ${(err as Error).message}`);
    return 1;
  }
  let api: Server | undefined;
  const apiSpec = loaded.config.api ?? { listen: "127.0.0.1:9477" };
  try {
    const token = apiSpec.token ? await resolveSecret(apiSpec.token) : undefined;
    api = await startApi(daemon, { listen: apiSpec.listen, ...(token ? { token } : {}), log });
    log.info({ listen: apiSpec.listen }, "api listening");
  } catch (err) {
    // Monitoring goes on without the API: failing over matters more than `standby status`.
    log.error(
      { err: (err as Error).message, listen: apiSpec.listen },
      "api cannot start; running without it",
    );
  }
  if (opts.view)
    io.out(
      `standby: watching ${loaded.config.groups.length} group(s), ${loaded.config.rules.length} rule(s); events:`,
    );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "stopping");
      await daemon.stop();
      await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
      resolve(0);
    };
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGHUP", () => {
      void (async () => {
        const next = await loadConfig(opts.config);
        if (!next.ok) {
          for (const e of next.errors) log.error({ error: formatError(e) }, "reload refused: invalid config");
          log.warn({ errors: next.errors.length }, "reload refused; the running configuration stays");
          return;
        }
        for (const w of next.warnings ?? []) log.warn({ warning: formatError(w) }, "config warning");
        await daemon.reload(next.config);
      })().catch((err: unknown) => log.error({ err: (err as Error).message }, "reload failed"));
    });
  });
}
