/**
 * Who is at the other end of a Unix socket connection, for the log of a state-changing call. Node cannot read
 * SO_PEERCRED; the kernel says the same through `ss -xp` (iproute2): our end's inode (from /proc/self/fd) → the
 * peer's inode → the process holding it → its uid. Best effort, bounded to 1 s: a call is never refused for it
 * (the socket's permissions are the authentication), and the log then says the peer is unknown.
 */
import { execFile } from "node:child_process";
import { readFile, readlink } from "node:fs/promises";
import type { Socket } from "node:net";

/** "uid 1000 (alice), pid 4242", or "peer unknown (why)". */
export async function socketPeer(sock: Socket): Promise<string> {
  try {
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== "number" || fd < 0) return "peer unknown (no fd)";
    const link = await readlink(`/proc/self/fd/${fd}`);
    const ours = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (!ours) return "peer unknown (not a socket)";
    const table = await ssUnix();
    const peer = peerInode(table, ours);
    const pid = peer ? pidOf(table, peer) : undefined;
    if (pid === undefined) return "peer unknown (ss did not show it)";
    const uid = /^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, "utf8"))?.[1];
    if (uid === undefined) return `pid ${pid}`;
    const name = await userName(Number(uid));
    return `uid ${uid}${name ? ` (${name})` : ""}, pid ${pid}`;
  } catch (err) {
    return `peer unknown (${(err as Error).message})`;
  }
}

function ssUnix(): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("ss", ["-xpnH"], { timeout: 1000, maxBuffer: 8 * 1024 * 1024 }, (err, out) =>
      err ? reject(new Error(`ss: ${err.message.split("\n")[0]}`)) : resolve(out),
    ),
  );
}

/** `u_str ESTAB 0 0 /run/standby/api.sock 123 * 124 users:((…))`: local inode 123, peer inode 124. */
export function peerInode(table: string, ours: string): string | undefined {
  for (const line of table.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[5] === ours) return f[7];
  }
  return undefined;
}

export function pidOf(table: string, inode: string): number | undefined {
  for (const line of table.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[5] === inode) {
      const pid = /pid=(\d+)/.exec(line)?.[1];
      return pid === undefined ? undefined : Number(pid);
    }
  }
  return undefined;
}

async function userName(uid: number): Promise<string | undefined> {
  try {
    const passwd = await readFile("/etc/passwd", "utf8");
    return passwd
      .split("\n")
      .map((l) => l.split(":"))
      .find((f) => Number(f[2]) === uid)?.[0];
  } catch {
    return undefined;
  }
}
