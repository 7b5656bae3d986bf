import { pino } from "pino";
import { statusPage } from "../../api/page.js";
import { PromMetrics } from "../../api/prometheus.js";
import { type ApiServer, startApi } from "../../api/server.js";
import type { Log } from "../../collector.js";
import { formatError, loadConfig } from "../../config/load.js";
import type { ApiSpec } from "../../config/schema.js";
import { describeSecret, resolveSecret } from "../../config/secrets.js";
import { Daemon, type ReloadOutcome } from "../../daemon/daemon.js";
import { SystemdNotifier } from "../../daemon/systemd.js";
import { installTestHooks } from "../../daemon/testhooks.js";
import { formatEvent, formatOffset } from "../format.js";
import type { Io } from "../io.js";

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
  // systemd (Type=notify): READY=1, RELOADING=1, STOPPING=1, the watchdog; nothing without NOTIFY_SOCKET.
  const sd = SystemdNotifier.fromEnv(log);
  installTestHooks(log);
  let viewGone = false;
  let viewError: NodeJS.ErrnoException | undefined;
  let onViewGone = (err: NodeJS.ErrnoException) => {
    viewError = err; // before the daemon runs: stopped as soon as it does
  };
  if (opts.view) {
    // The live view is what this process is for: if its reader goes away (EPIPE), exit non-zero so that
    // systemd (Restart=on-failure) or the operator notices, rather than monitoring on in silence.
    // main.ts's handler (EPIPE is no error for `schema | head`) would exit 0 without draining: replaced here.
    process.stdout.removeAllListeners("error");
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (viewGone) return;
      viewGone = true;
      log.error({ err: err.message, code: err.code }, "the live view's output is gone; stopping");
      onViewGone(err);
    });
  }
  const daemon = new Daemon({
    config: loaded.config,
    log,
    dryRun: opts.dryRun === true,
    ...(opts.view
      ? {
          onEvent: (e) => viewGone || io.out(formatEvent(e, daemon.startedWall)),
          onReload: (r) => viewGone || io.out(formatReload(r, daemon.startedWall)),
        }
      : {}),
  });
  // SIGHUP reloads; reloads never overlap (the daemon coalesces them) and never throw from here. A SIGHUP during
  // start (whose default action would kill the process) is held and applied once the daemon runs.
  const reload = () => {
    sd.reloading();
    daemon
      .requestReload(async () => {
        const next = await loadConfig(opts.config);
        if (next.ok) {
          for (const w of next.warnings ?? []) log.warn({ warning: formatError(w) }, "config warning");
          return { ok: true, config: next.config };
        }
        for (const e of next.errors) log.error({ error: formatError(e) }, "reload refused: invalid config");
        return {
          ok: false,
          message: `invalid config (${next.errors.length} error(s)): ${next.errors.map(formatError).join("; ")}`,
        };
      })
      .catch((err: unknown) => log.error({ err: (err as Error).message }, "reload failed"))
      .finally(() => sd.reloaded());
  };
  let hupDuringStart = false;
  let onHup = () => {
    hupDuringStart = true;
  };
  process.on("SIGHUP", () => onHup());
  // A configured token that cannot be read or is empty stops the start: never "no auth" by accident.
  let token: string | undefined;
  try {
    token = await apiToken(loaded.config.api);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, "standby cannot start");
    io.err(`standby: cannot start: ${(err as Error).message}`);
    return 1;
  }
  // Prometheus counters see every event from the start (only when /metrics is served: it keeps an event-loop
  // monitor and a GC observer running).
  const prom = loaded.config.api.metrics ? new PromMetrics() : undefined;
  if (prom) daemon.subscribe((e) => prom.observe(e));
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, "standby cannot start");
    io.err(`standby: cannot start: ${(err as Error).message}`);
    await sd.close();
    return 1;
  }
  let api: ApiServer | undefined;
  const apiSpec = loaded.config.api;
  try {
    const metrics = prom ? { metrics: () => prom.render(daemon.status()) } : {};
    api = await startApi(daemon, {
      ...metrics,
      ...(apiSpec.socket ? { socket: apiSpec.socket } : {}),
      ...(apiSpec.listen ? { listen: apiSpec.listen } : {}),
      ...(token ? { token } : {}),
      page: statusPage(),
      log,
      clock: daemon.clock,
    });
    log.info({ listen: api.listening }, "api listening");
  } catch (err) {
    // Monitoring goes on without the API: failing over matters more than `standby status`.
    log.error(
      { err: (err as Error).message, socket: apiSpec.socket, listen: apiSpec.listen },
      "api cannot start; running without it",
    );
  }
  // Ready: config, state, reconcile, the first pipeline initialization (daemon.start) and the API are done.
  sd.ready(daemon);
  if (opts.view)
    io.out(
      `standby: watching ${loaded.config.groups.length} group(s), ${loaded.config.rules.length} rule(s); events:`,
    );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (why: string, code: number) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: why }, "stopping");
      sd.stopping();
      try {
        await daemon.stop();
      } catch (err) {
        log.error({ err: (err as Error).message }, "stop failed");
        code = code || 1;
      }
      await api?.close();
      await sd.close();
      resolve(code);
    };
    process.on("SIGTERM", () => void stop("SIGTERM", 0));
    process.on("SIGINT", () => void stop("SIGINT", 0));
    if (viewError) onViewGone(viewError);
    else onViewGone = (err) => void stop(`stdout ${err.code ?? "error"}`, 1);
    if (hupDuringStart) reload();
    onHup = reload;
  });
}

/** A reload in the live view. */
export function formatReload(r: ReloadOutcome, t0: number): string {
  return `${formatOffset(r.ts, t0).padStart(10)}  ${(r.ok ? "reloaded" : "reload_refused").padEnd(19)} — ${r.message}`;
}

/** The API token from its secret: one that cannot be read, is empty or too short to guess is an error. */
export async function apiToken(api: ApiSpec): Promise<string | undefined> {
  if (!api.token) return undefined;
  let t: string;
  try {
    t = (await resolveSecret(api.token)).trim();
  } catch (err) {
    throw new Error(`api.token: ${(err as Error).message}`);
  }
  if (t === "") throw new Error(`api.token ${describeSecret(api.token)} is empty`);
  if (t.length < 16) throw new Error(`api.token ${describeSecret(api.token)} is shorter than 16 characters`);
  return t;
}
