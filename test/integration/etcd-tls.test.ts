/**
 * Fleet mode against an etcd that wants TLS, a client certificate and a password (test/peers/etcd.ts with `tls`,
 * then `enableAuth`): three members serving https only with `--client-cert-auth`, user `standby` with readwrite
 * on `/sb-tls/` alone.
 * - a Fleet built from a `cluster:` block as the config loader makes it (tls: {ca, cert, key}, auth: {user,
 *   password: {file}}) gets its lease, leads its group and its fenced transaction runs;
 * - a wrong password, no client certificate, a CA that did not sign the server's certificate: no lease, an error
 *   that says why, within a few seconds, and nothing crashes;
 * - `standby run` with such a config: `standby status --json` shows the lease held and the group led.
 * Needs etcd, etcdctl, openssl and (for the daemon) a built dist/; under CI=true a missing one fails the run.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/cluster/client.js";
import { type ClusterSpec, clusterSchema } from "../../src/cluster/config.js";
import { Fleet } from "../../src/cluster/fleet.js";
import { assertBuilt, MAIN } from "../e2e/daemon-harness.js";
import { failInCiWhenMissing } from "../peers/ci.js";
import { until } from "../peers/common.js";
import { Etcd, opensslMissing } from "../peers/etcd.js";

const run = promisify(execFile);

const missing = Etcd.missing() ?? opensslMissing();
failInCiWhenMissing("etcd with TLS and authentication", missing);

const PREFIX = "/sb-tls";
const USER = "standby";
/** How long a refused client may take to say so: the client's dial timeout and retries are ~1 s each. */
const REFUSED_WITHIN_MS = 5000;

describe.skipIf(missing !== undefined)("etcd with TLS, client certificates and authentication", () => {
  const etcd = new Etcd({ tls: {} });
  const password = `pw-${Math.random().toString(36).slice(2, 12)}`;
  let dir: string;
  let passwordFile: string;
  let wrongPasswordFile: string;
  const fleets: Fleet[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sb-etcd-tls-test-"));
    passwordFile = join(dir, "etcd-password");
    wrongPasswordFile = join(dir, "etcd-password-wrong");
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    writeFileSync(wrongPasswordFile, "not-the-password\n", { mode: 0o600 });
    const t0 = performance.now();
    await etcd.start();
    const t1 = performance.now();
    etcd.enableAuth({ user: USER, password, prefix: `${PREFIX}/` });
    console.log(
      `PKI + start ${(t1 - t0).toFixed(0)} ms, enableAuth ${(performance.now() - t1).toFixed(0)} ms`,
    );
  }, 40_000);
  afterAll(async () => {
    await Promise.allSettled(fleets.map((f) => f.close()));
    await etcd.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  /** The `cluster:` block through the config's own schema, as `standby run` would load it. */
  const spec = (over: Record<string, unknown> = {}): ClusterSpec => {
    const pki = etcd.pki!;
    const c = clusterSchema.parse({
      etcd: etcd.endpoints,
      tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
      auth: { user: USER, password: { file: passwordFile } },
      lease_ttl: "2s",
      prefix: PREFIX,
      name: "t1",
      ...over,
    });
    return { ...c, name: c.name ?? "t1" };
  };

  const fleet = async (s: ClusterSpec): Promise<Fleet> => {
    const f = await Fleet.create({ spec: s, host: s.name, version: "test", groups: ["g1"], targets: [] });
    fleets.push(f);
    f.start();
    return f;
  };

  /** A client for `s` that asks one read: how it failed and how long that took (it must fail). */
  const refusedRead = async (s: ClusterSpec) => {
    const client = createClient({ ...s, auth: undefined });
    const t0 = performance.now();
    try {
      const err = await client
        .get(`${PREFIX}/quorum`)
        .string()
        .then(
          () => undefined,
          (e: Error) => e,
        );
      return { err, ms: performance.now() - t0 };
    } finally {
      client.close();
    }
  };

  /** A fleet for `s` that must not get a lease: its status 3 s on, and when the first error was recorded. */
  const noLease = async (s: ClusterSpec) => {
    const f = await fleet(s);
    const t0 = performance.now();
    const errorAfter = await until(() => f.lease.lastError !== undefined, REFUSED_WITHIN_MS, "a lease error");
    await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (performance.now() - t0))));
    const st = f.status();
    await f.close();
    return { st, errorAfter, leader: f.decides("g1") };
  };

  it("the peer: https endpoints, /health over mutual TLS, and authentication enforced", async () => {
    for (const e of etcd.endpoints) expect(e).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    for (let i = 0; i < etcd.size; i++) expect(await etcd.healthy(i)).toBe(true);
    expect(readFileSync(etcd.pki!.serverCert, "utf8")).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const as = (pw: string, args: string[]) => etcd.etcdctl([`--user=${USER}:${pw}`, ...args]);
    const ok = as(password, ["put", `${PREFIX}/hello`, "1"]);
    expect(ok.status, ok.stderr).toBe(0);
    const wrong = as("nope", ["get", `${PREFIX}/hello`]);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/authentication failed/);
    const outside = as(password, ["put", "/elsewhere", "1"]);
    expect(outside.status).not.toBe(0);
    expect(outside.stderr).toMatch(/permission denied/);
    const sibling = as(password, ["put", `${PREFIX}x/a`, "1"]); // the grant is on `/sb-tls/`, not `/sb-tls*`
    expect(sibling.stderr).toMatch(/permission denied/);
  }, 20_000);

  it("a Fleet with tls {ca, cert, key} and auth {password: {file}} gets a lease, leads, and its fenced txn runs", async () => {
    const s = spec({ name: "t1" });
    expect(s.auth?.password).toEqual({ kind: "file", path: passwordFile });
    const t0 = performance.now();
    const f = await fleet(s);
    const leaseMs = await until(() => f.lease.held(), 5000, "the lease");
    await until(() => f.decides("g1"), 5000, "leadership of g1");
    const leadMs = performance.now() - t0;
    console.log(
      `mTLS + password: lease after ${leaseMs.toFixed(0)} ms, leader after ${leadMs.toFixed(0)} ms`,
    );
    expect(f.status().lease).toMatchObject({ held: true });
    expect(f.status().lease.error).toBeUndefined();
    const fence = f.fence("g1")!;
    expect(fence).toMatch(/^[1-9]\d*$/);
    const value = { leader: "t1", fence, state: { active: "a" }, savedAt: Date.now() };
    expect(await f.writeState("g1", fence, value)).toBe(true);
    expect(await f.readState("g1")).toMatchObject({ leader: "t1", fence });
    expect(await f.writeState("g1", String(BigInt(fence) + 1000n), value)).toBe(false); // a stale fence
    const got = etcd.etcdctl(["get", `${PREFIX}/groups/g1/state`, "--print-value-only"]);
    expect(JSON.parse(got.stdout)).toMatchObject({ leader: "t1", fence });
    await f.close();
  }, 20_000);

  it("a wrong password: no lease, 'authentication failed', bounded, no crash", async () => {
    const r = await noLease(
      spec({ name: "t2", auth: { user: USER, password: { file: wrongPasswordFile } } }),
    );
    console.log(`wrong password: first error after ${r.errorAfter.toFixed(0)} ms: ${r.st.lease.error}`);
    expect(r.st.lease.held).toBe(false);
    expect(r.st.lease.error).toMatch(/authentication failed/);
    expect(r.leader).toBe(false);
    expect(r.errorAfter).toBeLessThan(REFUSED_WITHIN_MS);
  }, 20_000);

  it("no client certificate: refused by the server, bounded", async () => {
    const s = spec({ name: "t3", tls: { ca: etcd.pki!.ca } });
    const read = await refusedRead(s);
    console.log(`no client certificate: read refused after ${read.ms.toFixed(0)} ms: ${read.err?.message}`);
    expect(read.err).toBeInstanceOf(Error);
    // etcd (Go) ends the handshake with alert 42 "bad certificate" when no client certificate is offered
    expect(read.err!.message).toMatch(/alert bad certificate|certificate required/);
    expect(read.ms).toBeLessThan(REFUSED_WITHIN_MS);
    const r = await noLease(s);
    console.log(
      `no client certificate: lease error after ${r.errorAfter.toFixed(0)} ms: ${r.st.lease.error}`,
    );
    expect(r.st.lease.held).toBe(false);
    expect(r.st.lease.error).toMatch(/lease grant failed/);
    expect(r.errorAfter).toBeLessThan(REFUSED_WITHIN_MS);
  }, 30_000);

  it("a CA that did not sign the server's certificate: refused, bounded", async () => {
    const pki = etcd.pki!;
    const s = spec({ name: "t4", tls: { ca: pki.otherCa, cert: pki.clientCert, key: pki.clientKey } });
    const read = await refusedRead(s);
    console.log(`other CA: read refused after ${read.ms.toFixed(0)} ms: ${read.err?.message}`);
    expect(read.err).toBeInstanceOf(Error);
    // refused by this client: the server's certificate does not chain to the CA it trusts
    expect(read.err!.message).toMatch(
      /unable to verify|self[- ]signed certificate|unable to get local issuer/,
    );
    expect(read.ms).toBeLessThan(REFUSED_WITHIN_MS);
    const r = await noLease(s);
    expect(r.st.lease.held).toBe(false);
    expect(r.st.lease.error).toMatch(/lease grant failed/);
    expect(r.errorAfter).toBeLessThan(REFUSED_WITHIN_MS);
  }, 30_000);

  describe("standby run", () => {
    let daemon: ChildProcess | undefined;
    let stderr = "";
    afterAll(async () => {
      if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
        const gone = new Promise((r) => daemon!.once("exit", r));
        daemon.kill("SIGTERM");
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
        if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill("SIGKILL");
      }
    }, 10_000);

    it("with cluster: {etcd: [https://...], tls, auth}: the lease is held and the shared group led", async () => {
      assertBuilt();
      const pki = etcd.pki!;
      const socket = join(dir, "api.sock");
      const file = join(dir, "standby.yaml");
      writeFileSync(
        file,
        `host: d1
state_dir: ${join(dir, "state")}
groups:
  - name: vip
    scope: shared
    members:
      - {name: a, priority: 100, health: [], activate: []}
      - {name: b, priority: 50, health: [], activate: []}
    failback: {mode: manual}
api: {socket: ${socket}}
cluster:
  etcd: [${etcd.endpoints.join(", ")}]
  tls: {ca: ${pki.ca}, cert: ${pki.clientCert}, key: ${pki.clientKey}}
  auth: {user: ${USER}, password: {file: ${passwordFile}}}
  lease_ttl: 2s
  name: d1
  prefix: ${PREFIX}
`,
      );
      const t0 = performance.now();
      daemon = spawn(process.execPath, [MAIN, "run", "--config", file], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let electedAt: number | undefined;
      daemon.stderr!.setEncoding("utf8").on("data", (d: string) => {
        stderr = (stderr + d).slice(-100_000);
        if (d.includes('"leader_elected')) electedAt ??= performance.now() - t0;
      });
      // biome-ignore lint/suspicious/noExplicitAny: the status JSON as the API returns it
      const status = async (): Promise<any> =>
        JSON.parse(
          (await run(process.execPath, [MAIN, "status", "--json", "--socket", socket], { timeout: 5000 }))
            .stdout,
        );
      // biome-ignore lint/suspicious/noExplicitAny: the status JSON
      let last: any;
      let apiAt: number | undefined;
      let leaseAt: number | undefined;
      for (;;) {
        if (daemon.exitCode !== null) throw new Error(`standby run exited ${daemon.exitCode}: ${stderr}`);
        last = await status().catch(() => undefined);
        // biome-ignore lint/suspicious/noExplicitAny: the status JSON
        const g = last?.groups?.find((x: any) => x.name === "vip");
        if (last !== undefined) apiAt ??= performance.now() - t0;
        if (last?.fleet?.lease?.held === true) leaseAt ??= performance.now() - t0;
        if (last?.fleet?.lease?.held === true && g?.fleet?.role === "leader") break;
        if (performance.now() - t0 > 15_000)
          throw new Error(`no lease and leadership within 15 s: ${JSON.stringify(last?.fleet)}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      console.log(
        `standby run (after spawn): leader_elected logged ${electedAt?.toFixed(0)} ms; status: API ${apiAt?.toFixed(0)} ms, lease held ${leaseAt?.toFixed(0)} ms, leader ${(performance.now() - t0).toFixed(0)} ms`,
      );
      expect(last.fleet.lease.held).toBe(true);
      expect(last.fleet.lease.error).toBeUndefined();
      // biome-ignore lint/suspicious/noExplicitAny: the status JSON
      const g = last.groups.find((x: any) => x.name === "vip");
      expect(g.fleet.role).toBe("leader");
      expect(g.fleet.leader).toBe("d1");
      expect(g.fleet.fence).toMatch(/^[1-9]\d*$/);
      // its keys are in etcd, under the prefix the role allows
      const keys = etcd.etcdctl(["get", `${PREFIX}/`, "--prefix", "--keys-only"]);
      expect(keys.stdout).toMatch(/\/sb-tls\/.*vip/);
      // IP endpoints over https: grpc-js sets the TLS ServerName to the IP, for which Node warns (DEP0123) once;
      // a harmless warning in the journal that reads like a fault: not printed.
      expect(stderr).not.toMatch(/DEP0123|DeprecationWarning/);
    }, 30_000);
  });
});
