/** InfluxQL against a test influxd, with ns timestamps kept exact (the influxd peer answers in ms). */
/** Runs InfluxQL; timestamps in ns, as strings. */
export async function influxQuery(
  url: string,
  db: string,
  q: string,
): Promise<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[]> {
  const r = await fetch(`${url}/query?${new URLSearchParams({ db, q, epoch: "ns" })}`, {
    signal: AbortSignal.timeout(10_000),
  });
  // ns timestamps are beyond a double's integers: read as strings.
  const text = (await r.text()).replace(/([[,])(\d{16,})(?=[,\]])/g, '$1"$2"');
  const j = JSON.parse(text) as { results?: { series?: never[]; error?: string }[]; error?: string };
  const err = j.error ?? j.results?.find((x) => x.error)?.error;
  if (err) throw new Error(`${q}: ${err}`);
  return j.results?.[0]?.series ?? [];
}
