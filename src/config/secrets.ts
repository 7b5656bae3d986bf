import { readFile, stat } from "node:fs/promises";
import type { Secret } from "./secret.js";

/**
 * The value of a secret: from the environment, a file (systemd credentials; trailing newline dropped), or
 * inline. Throws an Error that names the secret's source but never its value.
 */
export async function resolveSecret(s: Secret, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  switch (s.kind) {
    case "inline":
      return s.value;
    case "env": {
      const v = env[s.name];
      if (v === undefined || v === "")
        throw new Error(`environment variable ${s.name} is not set (secret {env: ${s.name}})`);
      return v;
    }
    case "file": {
      try {
        const st = await stat(s.path);
        if (process.getuid?.() === 0 && (st.mode & 0o004) !== 0) {
          throw new Error(`${s.path} is world-readable; a secret file must not be (chmod o-r ${s.path})`);
        }
        return (await readFile(s.path, "utf8")).replace(/\r?\n$/, "");
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new Error(code ? `cannot read secret file ${s.path}: ${code}` : (e as Error).message);
      }
    }
  }
}

/** A secret for logs and status: where it comes from, never what it is. */
export function describeSecret(s: Secret): string {
  return s.kind === "env" ? `{env: ${s.name}}` : s.kind === "file" ? `{file: ${s.path}}` : "(inline)";
}
