/**
 * Fleet mode's configuration: the `cluster:` block (how this instance reaches etcd and what it is called there),
 * a group's `scope` and `quorum`, and a collector's `shared`, with the checks across the file that the schema
 * cannot make (a shared group or target without a cluster to share it in). docs/fleet.md describes the design.
 *
 * The block's output is `ClusterSpec`, what the etcd client (client.ts, lease.ts, election.ts) takes: durations
 * in ms, TLS paths resolved against the config file's directory (`resolveClusterPaths`), the password a secret.
 */
import path from "node:path";
import { z } from "zod";
import type { ConfigError } from "../config/errors.js";
import {
  describeValue,
  duration,
  NAME_RE,
  name,
  nonEmpty,
  secretSchema,
  unionError,
} from "../config/fields.js";
import type { Secret } from "../config/secret.js";
import { at, get, type SourceFile } from "../config/yaml.js";
import type { GroupScope, Quorum } from "../groups/types.js";
import { formatDuration } from "../util/duration.js";

/** What the etcd client takes: the validated `cluster:` block, with `name` filled in and paths resolved. */
export interface ClusterSpec {
  /** etcd client endpoints: `http(s)://HOST:PORT` or `HOST:PORT`. */
  etcd: string[];
  /** Files (absolute once loaded): the CA that signed etcd's certificate; this client's certificate and key. */
  tls?: { ca?: string; cert?: string; key?: string };
  auth?: { user: string; password: Secret };
  /** ms; a whole number of seconds, at least 2 s (etcd grants leases in seconds, at least 2). */
  lease_ttl: number;
  /** The key prefix of everything standby keeps in etcd: starts with `/`, no trailing `/`. */
  prefix: string;
  /** This instance's name in the fleet (keys, votes, the shard map); default: the config's `host`. */
  name: string;
}

/** etcd's minimum lease TTL (a shorter one is granted as 2 s). */
export const MIN_LEASE_TTL_MS = 2000;
export const DEFAULT_LEASE_TTL = "5s";
export const DEFAULT_PREFIX = "/standby";

const ENDPOINT_RE = /^(https?:\/\/)?(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;
const PREFIX_RE = /^\/[^\s]*$/;

const endpoint = z.string().superRefine((e, ctx) => {
  const m = ENDPOINT_RE.exec(e);
  if (!m) {
    ctx.addIssue({
      code: "custom",
      message: `${describeValue(e)} is not an etcd endpoint; expected http://HOST:PORT, https://HOST:PORT or HOST:PORT, e.g. http://127.0.0.1:2379`,
    });
  } else if (Number(m[3]) < 1 || Number(m[3]) > 65535) {
    ctx.addIssue({ code: "custom", message: `${describeValue(e)}: port ${m[3]} is out of range 1-65535` });
  }
});

const tlsSchema = z
  .strictObject({
    ca: nonEmpty.optional().meta({ description: "PEM file of the CA that signed etcd's certificates" }),
    cert: nonEmpty.optional().meta({ description: "PEM file of this client's certificate (mTLS)" }),
    key: nonEmpty.optional().meta({ description: "PEM file of this client's private key (mTLS)" }),
  })
  .superRefine((t, ctx) => {
    if ((t.cert === undefined) !== (t.key === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [t.cert === undefined ? "key" : "cert"],
        message: "a client certificate needs its key: give both `cert` and `key`, or neither",
      });
    }
  })
  .meta({ description: "TLS to etcd; paths are relative to this file" });

const leaseTtl = duration({ positive: true })
  .prefault(DEFAULT_LEASE_TTL)
  .superRefine((ms, ctx) => {
    if (ms < MIN_LEASE_TTL_MS)
      ctx.addIssue({
        code: "custom",
        message: `${formatDuration(ms)} is below etcd's minimum lease TTL; expected at least 2s`,
      });
    else if (ms % 1000 !== 0)
      ctx.addIssue({
        code: "custom",
        message: `${formatDuration(ms)} is not a whole number of seconds (etcd grants leases in seconds); expected e.g. 3s, 5s`,
      });
  })
  .meta({ description: "How long an instance's keys outlive it: leadership and votes expire after it" });

/** `cluster:` as written; its `name` is filled in from `host` by the top-level schema (`withClusterName`). */
export const clusterSchema = z
  .strictObject({
    etcd: z
      .array(endpoint)
      .min(1, { error: "list at least one etcd endpoint, e.g. etcd: [http://127.0.0.1:2379]" })
      .superRefine((list, ctx) => {
        const schemes = new Set(list.map((e) => (e.startsWith("https://") ? "https" : "http")));
        if (schemes.size > 1)
          ctx.addIssue({
            code: "custom",
            message: "mixes https:// and plain endpoints; expected the same scheme for every member",
          });
        for (const [i, e] of list.entries()) {
          if (list.indexOf(e) !== i)
            ctx.addIssue({ code: "custom", path: [i], message: `${describeValue(e)} is listed twice` });
        }
      })
      .meta({ description: "etcd client endpoints: every member of the cluster, e.g. http://10.0.0.1:2379" }),
    tls: tlsSchema.optional(),
    auth: z
      .strictObject({ user: nonEmpty, password: secretSchema })
      .optional()
      .meta({ description: "etcd user and password (etcd's `auth enable`)" }),
    lease_ttl: leaseTtl,
    prefix: z
      .string()
      .default(DEFAULT_PREFIX)
      .superRefine((p, ctx) => {
        if (!PREFIX_RE.test(p) || p === "/" || p.endsWith("/"))
          ctx.addIssue({
            code: "custom",
            message: `${describeValue(p)} is not a key prefix; expected a path without spaces or a trailing /, e.g. /standby`,
          });
      })
      .meta({ description: `The key prefix of everything standby keeps in etcd; default ${DEFAULT_PREFIX}` }),
    name: name.optional().meta({
      description: "This instance's name in the fleet; default: host. Every instance needs its own",
    }),
  })
  .superRefine((c, ctx) => {
    if (c.tls !== undefined && !c.etcd.some((e) => e.startsWith("https://"))) {
      ctx.addIssue({
        code: "custom",
        path: ["tls"],
        message: "TLS is set but the endpoints are not https://; expected etcd: [https://HOST:PORT, ...]",
      });
    }
  })
  .meta({
    description: "Fleet mode: the etcd cluster that shared groups and shared targets are coordinated in",
  });

/** The top level's output with `cluster.name` defaulted to `host`. */
export function withClusterName<T extends { host: string; cluster?: z.output<typeof clusterSchema> }>(
  c: T,
): Omit<T, "cluster"> & { cluster?: ClusterSpec } {
  if (!c.cluster) return c as Omit<T, "cluster">;
  return { ...c, cluster: { ...c.cluster, name: c.cluster.name ?? c.host } };
}

// ---------------------------------------------------------------------------------------------------------
// A group's scope and quorum, a collector's shared

export const scopeSchema = z.enum(["local", "shared"]).default("local").meta({
  description:
    "local (default): this instance decides alone; shared: one leader in the fleet decides (needs cluster:)",
});

export const quorumSchema = z
  .union([z.enum(["majority", "any", "all"]), z.number()], {
    error: unionError(
      (v) => `found ${describeValue(v)}; expected majority, any, all or a number of observers (at least 1)`,
    ),
  })
  .default("majority")
  .superRefine((q, ctx) => {
    if (typeof q === "number" && (!Number.isInteger(q) || q < 1))
      ctx.addIssue({
        code: "custom",
        message: `${q} is not a number of observers; expected a whole number, at least 1 (or majority, any, all)`,
      });
  })
  .transform((q): Quorum => q)
  .meta({
    description:
      "Shared groups: how many live observers must see a member unhealthy to fail it over: majority (default), any, all, or N",
  });

export const sharedField = z.boolean().default(false).meta({
  description:
    "true: this target is polled by one instance of the fleet at a time (rendezvous-sharded; needs cluster:)",
});

export type _CheckScope = z.output<typeof scopeSchema> extends GroupScope ? true : never;

// ---------------------------------------------------------------------------------------------------------
// Checks across the file

/**
 * On the data as written (so they show beside every other error): a shared group or target needs `cluster:`;
 * `quorum` is for shared groups; a shared IPMI collector needs a remote BMC; `host` as the instance name must
 * be a valid name when `cluster.name` is not set.
 */
export function crossCheckCluster(f: SourceFile, errors: ConfigError[]): void {
  const data = f.data;
  const cluster = get(data, "cluster");
  const hasCluster = cluster !== undefined && cluster !== null;
  const groups = get(data, "groups");
  if (Array.isArray(groups)) {
    for (const [gi, g] of groups.entries()) {
      const scope = get(g, "scope");
      if (scope === "shared" && !hasCluster)
        errors.push(
          at(
            f,
            ["groups", gi, "scope"],
            "shared needs a `cluster:` block (the etcd its leader is elected in); add cluster: {etcd: [...]} or use scope: local",
          ),
        );
      if (get(g, "quorum") !== undefined && scope !== "shared")
        errors.push(
          at(
            f,
            ["groups", gi, "quorum"],
            "counts the observers that must agree before a shared group fails over; this group is local: add scope: shared or remove quorum",
          ),
        );
    }
  }
  const collectors = get(data, "collectors");
  if (Array.isArray(collectors)) {
    for (const [ci, c] of collectors.entries()) {
      if (get(c, "shared") !== true) continue;
      if (!hasCluster)
        errors.push(
          at(
            f,
            ["collectors", ci, "shared"],
            "true needs a `cluster:` block (the fleet its targets are spread over); add cluster: {etcd: [...]} or remove shared",
          ),
        );
      if (get(c, "type") === "ipmi" && get(c, "target") === undefined)
        errors.push(
          at(
            f,
            ["collectors", ci, "shared"],
            "true needs a remote `target`: the local BMC (/dev/ipmi0) is this host's alone",
          ),
        );
    }
  }
  const host = get(data, "host");
  if (hasCluster && get(cluster, "name") === undefined && typeof host === "string" && !NAME_RE.test(host))
    errors.push(
      at(
        f,
        ["host"],
        `${describeValue(host)} is this instance's name in the fleet (cluster.name is not set) but not a valid name; use letters, digits and . _ : - or set cluster.name`,
      ),
    );
}

/** TLS files resolved against the config file's directory, as every path in the file. */
export function resolveClusterPaths(c: ClusterSpec, base: string): ClusterSpec {
  if (!c.tls) return c;
  const tls: NonNullable<ClusterSpec["tls"]> = {};
  for (const k of ["ca", "cert", "key"] as const) {
    const p = c.tls[k];
    if (p !== undefined) tls[k] = path.resolve(base, p);
  }
  return { ...c, tls };
}
