/**
 * `https://user:secret@host/` → `https://user:***@host/`: URLs go into labels, events and log lines, passwords
 * never. Anything that is not a URL is returned as it is.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === "") return url;
    u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
