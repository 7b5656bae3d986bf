/** What an unknown thrown value says: its error code (`ENOENT`), or its message. Shared by every module. */

/** The `code` of a Node system error (`ENOENT`, `EACCES`), or "" when it has none. */
export function errorCode(err: unknown): string {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string"
    ? err.code
    : "";
}

/** The message of an error, or the value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The code when there is one (short, stable in logs), else the message. */
export function codeOrMessage(err: unknown): string {
  return errorCode(err) || errorMessage(err);
}
