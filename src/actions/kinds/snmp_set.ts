/**
 * The snmp_set action: one SET request (one varbind or several) to an SNMP agent, then a GET of the same OIDs
 * whose values must equal what was set (`verify`, default true). Bounded by the action's `timeout` and by
 * `ctx.signal`; never throws; the community and v3 keys never appear in a result.
 */
import { performance } from "node:perf_hooks";
import type { Secret } from "../../config/secret.js";
import { resolveSecret } from "../../config/secrets.js";
import { describeSnmpError, get, openSession, type SessionOptions, set, snmp } from "../../snmp/session.js";
import { type SnmpTarget, targetLabel } from "../../snmp/target.js";
import { type ActionContext, type ActionResult, dry, elapsedSince, redactor } from "../result.js";
import { formatDuration } from "../spawn.js";
import type { SnmpValueType, SnmpVarbindSpec } from "../types.js";

export const kind = "snmp_set";

export interface SnmpSetSpec {
  readonly target: SnmpTarget;
  readonly set: readonly SnmpVarbindSpec[];
  readonly verify: boolean;
  readonly timeout: number;
}

/** How the runner opens a session (tests give a fake). */
export type SessionOpener = (t: SnmpTarget, o: SessionOptions) => Promise<snmp.Session>;

const OBJECT_TYPE: Record<SnmpValueType, snmp.ObjectType> = {
  integer: snmp.ObjectType.Integer,
  unsigned: snmp.ObjectType.Gauge,
  gauge: snmp.ObjectType.Gauge,
  counter: snmp.ObjectType.Counter,
  timeticks: snmp.ObjectType.TimeTicks,
  ipaddress: snmp.ObjectType.IpAddress,
  oid: snmp.ObjectType.OID,
  string: snmp.ObjectType.OctetString,
  hex: snmp.ObjectType.OctetString,
};

/** RFC 3416's names of the error-status values (net-snmp says `NoAccess`, snmpset `noAccess`). */
const STATUS = [
  "noError",
  "tooBig",
  "noSuchName",
  "badValue",
  "readOnly",
  "genErr",
  "noAccess",
  "wrongType",
  "wrongLength",
  "wrongEncoding",
  "wrongValue",
  "noCreation",
  "inconsistentValue",
  "resourceUnavailable",
  "commitFailed",
  "undoFailed",
  "authorizationError",
  "notWritable",
  "inconsistentName",
] as const;

const HINT: Partial<Record<(typeof STATUS)[number], string>> = {
  noAccess: "a read-only community or v3 user? a SET needs write access",
  authorizationError: "a read-only community or v3 user? a SET needs write access",
  notWritable: "the object is read-only or does not exist",
  noCreation: "the object does not exist",
  noSuchName: "the object does not exist or is read-only, or a read-only community",
  readOnly: "the object is read-only",
  wrongType: "the agent expects another type",
  badValue: "the agent does not take this value",
  wrongValue: "the agent does not take this value",
  wrongLength: "the agent does not take a value of this length",
  inconsistentValue: "the agent does not take this value now",
};

/** Why a SET or GET failed, in a sysadmin's words: `the agent refused: noAccess (a read-only community ...)`. */
export function describeSetError(err: unknown, t: Pick<SnmpTarget, "version">): string {
  const e = err as Error & { status?: number };
  if (e?.name === "RequestFailedError" && typeof e.status === "number" && STATUS[e.status]) {
    const name = STATUS[e.status]!;
    const oid = /: ([\d.]+)$/.exec(e.message)?.[1];
    const hint = HINT[name];
    return `the agent refused: ${name}${oid ? ` on ${oid}` : ""}${hint ? ` (${hint})` : ""}`;
  }
  return describeSnmpError(err, t);
}

/** A value as `describe` and messages show it: numbers and addresses as they are, text quoted. */
function valueText(type: SnmpValueType, v: number | string): string {
  return type === "string" ? JSON.stringify(v) : String(v);
}

function varbindOf(v: SnmpVarbindSpec): snmp.Varbind {
  const value =
    v.type === "hex"
      ? Buffer.from(String(v.value), "hex")
      : v.type === "string"
        ? Buffer.from(String(v.value), "utf8")
        : v.value;
  return { oid: v.oid, type: OBJECT_TYPE[v.type], value } as snmp.Varbind;
}

/** What the agent answered to the read back, in the terms of the spec's type, or an error word. */
export function readBackText(spec: SnmpVarbindSpec, vb: snmp.Varbind | undefined): string {
  if (!vb) return "nothing";
  if (snmp.isVarbindError(vb)) {
    const word = snmp.varbindError(vb).split(":")[0] ?? "an error";
    return word.charAt(0).toLowerCase() + word.slice(1);
  }
  const v = vb.value as unknown;
  if (Buffer.isBuffer(v)) {
    if (spec.type === "hex") return v.toString("hex");
    const text = v.toString("utf8");
    const plain = Buffer.from(text, "utf8").equals(v) && !/\p{Cc}/u.test(text);
    return plain ? JSON.stringify(text) : `0x${v.toString("hex")}`;
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string" && spec.type === "oid") return v.replace(/^\./, "");
  return String(v);
}

/** Whether the read-back varbind holds what was set (OCTET STRINGs byte for byte). */
export function matches(spec: SnmpVarbindSpec, vb: snmp.Varbind | undefined): boolean {
  if (!vb || snmp.isVarbindError(vb)) return false;
  if (spec.type === "string" || spec.type === "hex") {
    const want = varbindOf(spec).value as Buffer;
    return Buffer.isBuffer(vb.value) && want.equals(vb.value);
  }
  return readBackText(spec, vb) === String(spec.value);
}

type Outcome = { ok: true; output: string } | { ok: false; error: string; output?: string };

/** Sets the varbinds and reads them back. */
export async function run(spec: SnmpSetSpec, ctx: ActionContext): Promise<ActionResult> {
  return runSet(spec, ctx, openSession);
}

/** `run` with the session opener given (tests). */
export async function runSet(
  spec: SnmpSetSpec,
  ctx: ActionContext,
  open: SessionOpener,
): Promise<ActionResult> {
  const where = targetLabel(spec.target);
  const what = spec.set.map((v) => `${v.oid} to ${valueText(v.type, v.value)}`).join(", ");
  if (ctx.dryRun) {
    const how = spec.set.map((v) => `${v.oid} ${v.type} ${valueText(v.type, v.value)}`).join(", ");
    return dry(
      kind,
      undefined,
      `would set on ${where} (SNMP v${spec.target.version}): ${how}${spec.verify ? ", then read it back" : ""}`,
    );
  }
  const started = performance.now();
  const secrets: string[] = [];
  const resolve = async (s: Secret) => {
    const v = await (ctx.resolveSecret ?? resolveSecret)(s);
    secrets.push(v);
    return v;
  };
  let stage = "opening the session";
  let finished = false;
  let session: snmp.Session | undefined;
  const close = () => {
    try {
      session?.close();
    } catch {
      // already closed
    }
  };

  const work = (async (): Promise<Outcome> => {
    try {
      session = await open(spec.target, { resolve, onError: () => {} });
    } catch (err) {
      const msg = (err as Error)?.message ?? String(err);
      return { ok: false, error: msg.startsWith(`${where}: `) ? msg.slice(where.length + 2) : msg };
    }
    if (finished) {
      close(); // the deadline came first: nothing is sent
      return { ok: false, error: "cancelled" };
    }
    stage = "setting";
    try {
      await set(session, spec.set.map(varbindOf));
    } catch (err) {
      return { ok: false, error: `set ${what}: ${describeSetError(err, spec.target)}` };
    }
    if (!spec.verify) return { ok: true, output: "set (not read back: verify is off)" };
    stage = "reading back";
    let vbs: snmp.Varbind[];
    try {
      vbs = await get(
        session,
        spec.set.map((v) => v.oid),
      );
    } catch (err) {
      return {
        ok: false,
        error: `set ${what}, but reading it back failed: ${describeSetError(err, spec.target)}`,
      };
    }
    const back = spec.set.map((v, i) => readBackText(v, vbs[i]));
    const output = `set; read back ${back.join(", ")}`;
    if (spec.set.every((v, i) => matches(v, vbs[i]))) return { ok: true, output };
    return { ok: false, error: `set ${what}, read back ${back.join(", ")}`, output };
  })();

  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<Outcome>((res) => {
    timer = setTimeout(
      () => res({ ok: false, error: `timed out after ${formatDuration(spec.timeout)} (while ${stage})` }),
      Math.max(1, spec.timeout),
    );
    onAbort = () => res({ ok: false, error: `cancelled (while ${stage})` });
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener("abort", onAbort, { once: true });
  });
  let o: Outcome;
  try {
    o = await Promise.race([work, stop]);
  } finally {
    finished = true;
    clearTimeout(timer);
    if (onAbort) ctx.signal?.removeEventListener("abort", onAbort);
    close();
  }
  const redact = redactor(secrets);
  const head = describe(spec);
  return {
    ok: o.ok,
    kind,
    output: redact(o.output ? `${head}: ${o.output}` : head),
    durationMs: elapsedSince(started),
    ...(o.ok ? {} : { error: redact(`snmp_set ${where}: ${o.error}`) }),
  };
}

/** `snmp_set 127.0.0.1:161 1.3.6.1.2.1.2.2.1.7.2 integer 2` (several varbinds joined by commas). */
export function describe(spec: SnmpSetSpec): string {
  const vbs = spec.set.map((v) => `${v.oid} ${v.type} ${valueText(v.type, v.value)}`).join(", ");
  return `snmp_set ${targetLabel(spec.target)} ${vbs}`;
}
