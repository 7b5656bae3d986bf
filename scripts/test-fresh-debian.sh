#!/usr/bin/env bash
# The README's run command on a fresh Debian 12, as a new user runs it. NOT part of `npm test` or scripts/test.sh:
# it needs root, several minutes, and the network (the Debian mirror and the npm registry).
#
# Builds a minimal bookworm root (mmdebstrap --variant=minbase, or debootstrap; the tarball is cached in
# /var/cache/standby-test for a week; FRESH_DEBIAN_REBUILD=1 makes a new one), clones the current commit into it
# (committed files only), and in a chroot with /proc, /sys and /dev mounted runs `scripts/run.sh` in the
# background, then `node dist/src/cli/main.js status --config etc/default.yaml` (with scripts/node-path.sh's PATH)
# until it answers. Prints the time from clone to a running monitor, when each set-up step was done, and the
# Node.js the monitor runs on; then runs scripts/install.sh there and `standby check` on the installed config (the
# installed config is observe-only, but the daemon is not started: the monitor holds 127.0.0.1:9477). Stops the monitor, unmounts and removes
# everything at the end (KEEP=1 keeps the root for a look; it is still unmounted). The chroot shares this host's network (apt and npm need it): the
# monitor probes this host's default gateway and its API takes 127.0.0.1:9477, which must be free. etc/default.yaml
# has no switching actions. This host's local CAs (/usr/local/share/ca-certificates) are copied in: behind a
# TLS-inspecting proxy, the npm registry is reachable only with them, as on any machine of that network.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

[ "$(id -u)" -eq 0 ] || {
  echo "test-fresh-debian: needs root (chroot, mounts)" >&2
  exit 1
}
if ss -Hltn 'sport = :9477' 2>/dev/null | grep -q .; then
  echo "test-fresh-debian: 127.0.0.1:9477 is taken on this host; the monitor's API needs it" >&2
  exit 1
fi
commit=$(git rev-parse HEAD)
if ! git diff --quiet HEAD --; then
  echo "test-fresh-debian: note: uncommitted changes are not tested (only commit ${commit:0:12})" >&2
fi

MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
cache=/var/cache/standby-test
tarball=$cache/bookworm-minbase.tar
WAIT=${WAIT:-1200} # seconds for the set-up and the monitor to come up

work=$(mktemp -d "${TMPDIR:-/tmp}/sb-fresh-debian.XXXXXX")
root=$work/root
mkdir "$root"
pgid=""

cleanup() {
  set +e
  if [ -n "$pgid" ]; then
    kill -TERM -- "-$pgid" 2>/dev/null
    for _ in $(seq 50); do
      kill -0 -- "-$pgid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$pgid" 2>/dev/null
  fi
  # Anything else still running in the root (started by the set-up in there), by pid.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  sleep 0.2
  for m in dev/pts dev sys proc; do
    mountpoint -q "$root/$m" && umount "$root/$m"
  done
  if grep -q " $root/" /proc/self/mounts; then
    echo "test-fresh-debian: still mounted under $root; not removing it" >&2
  elif [ "${KEEP:-0}" = 1 ]; then
    echo "test-fresh-debian: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the root -------------------------------------------------------------------------------------------------
if [ ! -s "$tarball" ] || [ "${FRESH_DEBIAN_REBUILD:-0}" = 1 ] || [ -n "$(find "$tarball" -mtime +7)" ]; then
  mkdir -p "$cache"
  echo "test-fresh-debian: building a minimal bookworm root into $tarball" >&2
  t=$SECONDS
  if command -v mmdebstrap >/dev/null; then
    timeout 1200 mmdebstrap --quiet --format=tar --variant=minbase bookworm "$tarball.new" \
      "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" "deb $SECURITY bookworm-security main"
  else
    tmproot=$work/debootstrap
    timeout 1200 debootstrap --variant=minbase bookworm "$tmproot" "$MIRROR" >/dev/null
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
      "$MIRROR" "$MIRROR" "$SECURITY" >"$tmproot/etc/apt/sources.list"
    tar -C "$tmproot" -cf "$tarball.new" .
    rm -rf "$tmproot"
  fi
  mv "$tarball.new" "$tarball"
  echo "test-fresh-debian: root built in $((SECONDS - t)) s" >&2
fi
tar -C "$root" -xpf "$tarball"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This network's own CAs (a TLS-inspecting proxy's), as any machine on it has them; ca-certificates, which
# setup.sh installs, adds them to the system store. A machine on the open internet has none.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"

# A login shell's environment, nothing of ours.
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$1"
}

# --- clone, run, wait -----------------------------------------------------------------------------------------
start=$(date +%s.%N)
git clone -q --no-hardlinks "$repo" "$root/root/standby"
git -C "$root/root/standby" checkout -q --detach "$commit"
log=$work/run.log
setsid chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/bash -c 'cd /root/standby && exec scripts/run.sh' </dev/null >"$log" 2>&1 &
pgid=$!

since() { awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
declare -A done_at=()
steps=("debian-node:/usr/bin/node" "debian-npm:/usr/bin/npm" "node20:/usr/local/bin/node" "npm-ci:/root/standby/node_modules/.package-lock.json"
  "build:/root/standby/dist/src/cli/main.js" "runtime-deps:/usr/bin/fping")
status_cmd='cd /root/standby && . scripts/node-path.sh && timeout 10 node dist/src/cli/main.js status --config etc/default.yaml'
up=""
while :; do
  for s in "${steps[@]}"; do
    name=${s%%:*}
    if [ -z "${done_at[$name]:-}" ] && [ -e "$root${s#*:}" ]; then done_at[$name]=$(since); fi
  done
  if [ -e "$root/root/standby/state/standby.log" ] && out=$(in_root "$status_cmd" 2>/dev/null); then
    up=$(since)
    break
  fi
  if ! kill -0 "$pgid" 2>/dev/null; then
    echo "test-fresh-debian: scripts/run.sh exited after $(since) s; its output:" >&2
    tail -n 40 "$log" >&2
    tail -n 20 "$root/root/standby/state/standby.log" 2>/dev/null >&2
    exit 1
  fi
  if [ "$(since | cut -d. -f1)" -ge "$WAIT" ]; then
    echo "test-fresh-debian: no answer from the monitor within $WAIT s; run.sh's output:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  sleep 0.5
done

# --- figures --------------------------------------------------------------------------------------------------
monitor_node=$(readlink "/proc/$pgid/exe" || echo "?")
monitor_node=${monitor_node#"$root"}
echo
echo "== fresh Debian $(cat "$root/etc/debian_version") root, commit ${commit:0:12}"
echo "clone to a running monitor (status answers): $up s"
for s in "${steps[@]}"; do
  name=${s%%:*}
  echo "  $name (${s#*:}) at ${done_at[$name]:-never} s"
done
echo "Debian's node:  $(in_root '/usr/bin/node --version 2>/dev/null || echo none')"
echo "the monitor's:  $monitor_node $(in_root "$(printf '%q' "$monitor_node") --version")"
echo "node on a login shell's PATH: $(in_root 'command -v node; node --version' | paste -sd ' ')"
echo "run.sh's output:"
sed 's/^/  | /' "$log" | head -n 20
echo "status:"
echo "$out" | sed 's/^/  | /' | head -n 12

# --- and scripts/install.sh on the same root: the wrapper must name the Node 20, not Debian's 18 ---------------
echo "scripts/install.sh:"
in_root 'cd /root/standby && scripts/install.sh' 2>&1 | sed 's/^/  | /'
echo "  wrapper: $(grep '^exec' "$root/usr/bin/standby")"
in_root 'standby check --config /etc/standby/standby.yaml' 2>&1 | sed 's/^/  | /'
echo "  again, after a change to standby.yaml, then --uninstall:"
in_root 'sed -i "s/type: os, interval: 10s/type: os, interval: 15s/" /etc/standby/standby.yaml && cd /root/standby && scripts/install.sh | grep kept &&
  ls -l /etc/standby && scripts/install.sh --uninstall && ls /usr/lib/standby /usr/bin/standby 2>&1; ls /etc/standby' 2>&1 |
  sed 's/^/  | /'
