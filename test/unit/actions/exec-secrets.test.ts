/**
 * Issue 6 item 16: exec `env` values may be secrets ({env: NAME} / {file: PATH}), read through the daemon's
 * resolver; a secret's value never shows in a result (argv, output, error), hence never in an action event or log.
 */
import { describe, expect, it } from "vitest";
import { runAction, runWith } from "../../../src/actions/run.js";
import type { ActionSpec } from "../../../src/actions/types.js";
import { formatError, loadConfigText } from "../../../src/config/load.js";
import type { Secret } from "../../../src/config/secret.js";
import { switchContext } from "../../helpers.js";

const SECRET = "s3cr3t-T0ken-value";
const resolveSecret = async (s: Secret): Promise<string> => {
  if (s.kind === "env" && s.name === "HOOK_TOKEN") return SECRET;
  if (s.kind === "file") return "from-a-file";
  throw new Error(`environment variable ${s.kind === "env" ? s.name : "?"} is not set`);
};

function exec(script: string, env: Record<string, string | Secret>): ActionSpec {
  return { exec: { argv: ["sh", "-c", script], env, shell: false, timeout: 5000 } } as ActionSpec;
}

describe("exec env secrets", () => {
  it("passes the secret's value to the command and never shows it", async () => {
    const r = await runAction(
      exec(
        '[ "$TOKEN" = "$WANT" ] && echo same; echo "token is $TOKEN"; echo "$TOKEN" >&2; echo "k=$KEY"; exit 3',
        {
          TOKEN: { kind: "env", name: "HOOK_TOKEN" },
          KEY: { kind: "file", path: "/run/credentials/standby/key" },
          WANT: SECRET,
        },
      ),
      { ...switchContext, resolveSecret },
    );
    expect(r.ok).toBe(false);
    expect(r.exitCode).toBe(3);
    // The command saw the value; the result shows *** instead.
    expect(r.output).toContain("same");
    expect(r.output).toContain("token is ***");
    expect(r.output).toContain("k=***");
    // The last line of output (stdout and stderr arrive in either order).
    expect(r.error).toMatch(/^exec: sh: exit 3: (k=)?\*\*\*$/);
    expect(JSON.stringify(r)).not.toContain(SECRET);
    expect(JSON.stringify(r)).not.toContain("from-a-file");
  });

  it("without a resolver, or when the secret cannot be read, the action fails naming the variable, not a value", async () => {
    const noResolver = await runAction(
      exec("true", { TOKEN: { kind: "env", name: "HOOK_TOKEN" } }),
      switchContext,
    );
    expect(noResolver).toMatchObject({ ok: false, kind: "exec" });
    expect(noResolver.error).toBe(
      "exec: sh: env TOKEN is a secret ({env: HOOK_TOKEN}) and no secret resolver was given",
    );
    const unreadable = await runAction(exec("true", { T: { kind: "env", name: "NOPE" } }), {
      ...switchContext,
      resolveSecret,
    });
    expect(unreadable.error).toBe(
      "exec: sh: env T: cannot read secret ({env: NOPE}): environment variable NOPE is not set",
    );
  });

  it("notify exec hooks resolve env secrets too", async () => {
    const r = await runWith(
      exec('echo "$TOKEN"', { TOKEN: { kind: "env", name: "HOOK_TOKEN" } }),
      { ...switchContext, resolveSecret },
      { stdin: "{}\n", env: { STANDBY_EVENT: "failover" } },
    );
    expect(r.ok).toBe(true);
    expect(r.output).toBe("***\n");
  });

  it("the config accepts {env}, {file} and plain strings as exec env values", async () => {
    const text = `groups:
  - name: g
    members:
      - name: a
        priority: 1
        activate:
          - exec: {argv: [/bin/true], env: {TOKEN: {env: HOOK_TOKEN}, KEY: {file: key.txt}, MODE: fast}}
notify:
  - exec: {argv: [/bin/true], env: {PAGER_KEY: {file: /run/credentials/standby/pager}}}
`;
    const r = await loadConfigText(text, "/etc/standby/standby.yaml");
    if (!r.ok) throw new Error(r.errors.map(formatError).join("\n"));
    expect(r.config.groups[0]?.members[0]?.activate[0]).toEqual({
      exec: {
        argv: ["/bin/true"],
        env: {
          TOKEN: { kind: "env", name: "HOOK_TOKEN" },
          KEY: { kind: "file", path: "/etc/standby/key.txt" },
          MODE: "fast",
        },
        shell: false,
        timeout: 5000,
      },
    });
    expect(r.config.notify[0]).toMatchObject({
      exec: { env: { PAGER_KEY: { kind: "file", path: "/run/credentials/standby/pager" } } },
    });
    const bad = await loadConfigText(
      text.replace("MODE: fast", "MODE: {vault: x}"),
      "/etc/standby/standby.yaml",
    );
    expect(bad.ok ? [] : bad.errors.map(formatError)).toEqual([
      expect.stringMatching(
        /^\/etc\/standby\/standby\.yaml:7:\d+: .*env\.MODE.*expected a string, \{env: NAME\} or \{file: PATH\}/,
      ),
    ]);
  });
});
