#!/usr/bin/env bash
# Installs standby on this host (as root), or into $DESTDIR for a package. Idempotent: run it again to upgrade.
#
#   scripts/install.sh                 # install or upgrade
#   DESTDIR=/tmp/root scripts/install.sh   # files only, for a package (prints what its postinst must do)
#   scripts/install.sh --uninstall     # remove the program, the wrapper and the unit; keep config and state
#
# Layout:
#   /usr/lib/standby/            the program: dist/ (compiled), package.json, package-lock.json, the production
#                                node_modules only (npm ci --omit=dev), rules/ and grafana/ examples,
#                                scripts/node-options (the V8 options the service runs with)
#   /usr/bin/standby             a small sh wrapper: the absolute path of a Node.js >= 20 (found now) + the program
#   /usr/lib/systemd/system/standby.service   systemd/standby.service as it is
#   /usr/lib/sysusers.d/standby.conf          systemd/standby.sysusers: the group standby
#   /etc/standby/standby.yaml    from etc/standby.yaml (rules: /etc/standby/rules.d/*.yaml, state_dir:
#                                /var/lib/standby, api token below), 0640 root:standby; never overwritten: an
#                                existing file that differs is kept and the new one written beside it as .dist
#   /etc/standby/rules.d/*.yaml  the rule files etc/standby.yaml uses (the same rule for existing files)
#   /etc/standby/api.token       32 random bytes in hex, 0600 root; created only when missing
#   /var/lib/standby/            state (created; systemd's StateDirectory= also does)
#   group standby                (groupadd --system; not with DESTDIR)
#
# Expects a built checkout; runs scripts/setup.sh first when dist/ is missing or older than the sources.
# The wrapper runs the `node` found on PATH after scripts/node-path.sh (the system's if >= 20, else the Node 20
# that setup.sh installed under npm's global prefix); STANDBY_NODE=/path/to/node chooses another (packagers: the
# target's Node). STANDBY_INSTALL_RELOCATABLE=1 (with DESTDIR; for tests) writes $DESTDIR-prefixed absolute paths
# into the wrapper and standby.yaml, so that the installed program runs from the temporary root.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "install: $*"; }
die() {
  echo "install: $*" >&2
  exit 1
}

mode=install
case "${1:-}" in
  "") ;;
  --uninstall) mode=uninstall ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  *) die "unknown argument $1 (usage: [DESTDIR=DIR] scripts/install.sh [--uninstall])" ;;
esac

DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
LIB=/usr/lib/standby
BIN=/usr/bin/standby
UNIT=/usr/lib/systemd/system/standby.service
SYSUSERS=/usr/lib/sysusers.d/standby.conf
ETC=/etc/standby
STATE=/var/lib/standby
GROUP=standby

# The prefix of the paths that installed files name: none, or $DESTDIR in relocatable (test) installs.
at=""
if [ "${STANDBY_INSTALL_RELOCATABLE:-0}" = 1 ]; then
  [ -n "$DESTDIR" ] || die "STANDBY_INSTALL_RELOCATABLE=1 needs DESTDIR"
  at=$DESTDIR
fi
case "$DESTDIR" in
  *[\'\"\|\&\\]*) die "DESTDIR must not contain quotes, |, & or \\" ;;
esac
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then die "run it as root (or with DESTDIR=DIR for a package)"; fi

systemd_runs() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

if [ "$mode" = uninstall ]; then
  if systemd_runs && [ -e "$UNIT" ]; then
    systemctl disable --now standby.service >/dev/null 2>&1 || true
    say "stopped and disabled standby.service"
  fi
  rm -rf "$DESTDIR$LIB" "$DESTDIR$LIB.new" "$DESTDIR$LIB.old"
  rm -f "$DESTDIR$BIN" "$DESTDIR$UNIT" "$DESTDIR$SYSUSERS"
  if systemd_runs; then systemctl daemon-reload; fi
  say "removed $DESTDIR$LIB, $DESTDIR$BIN and $DESTDIR$UNIT"
  say "kept $DESTDIR$ETC (config, rules, API token) and $DESTDIR$STATE (state, event log)$([ -n "$DESTDIR" ] || echo " and the group $GROUP"); remove them by hand if you want them gone"
  exit 0
fi

# --- the build ------------------------------------------------------------------------------------------------
stale() {
  [ -f dist/src/cli/main.js ] && [ -d node_modules ] || return 0
  [ -n "$(find src collectors -name '*.ts' -not -path '*/test/*' -newer dist/src/cli/main.js -print -quit)" ] ||
    [ package-lock.json -nt dist/src/cli/main.js ] || [ tsconfig.json -nt dist/src/cli/main.js ]
}
if stale; then
  say "dist/ is missing or older than the sources: running scripts/setup.sh"
  scripts/setup.sh
fi
# shellcheck source=scripts/node-path.sh
. scripts/node-path.sh

node_bin=${STANDBY_NODE:-$(command -v node || true)}
case "$node_bin" in
  /*) ;;
  *) die "no Node.js on PATH (scripts/setup.sh installs one); or set STANDBY_NODE=/path/to/node" ;;
esac
if [ -x "$node_bin" ]; then
  node_version=$("$node_bin" --version)
  major=${node_version#v}
  major=${major%%.*}
  [ "$major" -ge 20 ] || die "$node_bin is Node.js $node_version; standby needs 20 or newer (scripts/setup.sh installs it)"
elif [ -n "${STANDBY_NODE:-}" ]; then
  node_version="(not on this machine; not checked)"
else
  die "$node_bin is not executable"
fi

# --- the program: staged beside the old one, then swapped in ---------------------------------------------------
lib=$DESTDIR$LIB
new=$lib.new
rm -rf "$new"
mkdir -p "$new/dist" "$new/scripts"
cp package.json package-lock.json "$new/"
say "production dependencies (npm ci --omit=dev) into $lib"
(cd "$new" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
rm -rf "$new/node_modules/.bin"
cp -r dist/src dist/collectors "$new/dist/"
rm -rf "$new"/dist/collectors/*/test
cp -r rules grafana "$new/"
if [ -f scripts/node-options ]; then cp scripts/node-options "$new/scripts/"; fi
find "$new" -type d -exec chmod 0755 {} +
find "$new" -type f -exec chmod 0644 {} +
if [ "$(id -u)" -eq 0 ]; then chown -R root:root "$new"; fi
if [ -d "$lib" ]; then
  rm -rf "$lib.old"
  mv "$lib" "$lib.old"
fi
mv "$new" "$lib"
rm -rf "$lib.old"

# --- the wrapper ----------------------------------------------------------------------------------------------
install -d -m 0755 "$DESTDIR/usr/bin"
cat >"$DESTDIR$BIN.new" <<EOF
#!/bin/sh
# standby, written by scripts/install.sh (rewritten on each install): the program under $at$LIB, run by
# the Node.js $node_version found at install time (an absolute path: systemd's PATH does not matter).
# Without NODE_OPTIONS, the V8 options the service runs with (scripts/node-options).
if [ -z "\${NODE_OPTIONS:-}" ] && [ -r '$at$LIB/scripts/node-options' ]; then
  NODE_OPTIONS=\$(cat '$at$LIB/scripts/node-options')
  export NODE_OPTIONS
fi
exec '$node_bin' '$at$LIB/dist/src/cli/main.js' "\$@"
EOF
chmod 0755 "$DESTDIR$BIN.new"
mv "$DESTDIR$BIN.new" "$DESTDIR$BIN"

# --- the unit -------------------------------------------------------------------------------------------------
install -D -m 0644 systemd/standby.service "$DESTDIR$UNIT"
# The group of the API socket and of /run/standby (the unit's Group=): for systemd-sysusers and packages.
install -D -m 0644 systemd/standby.sysusers "$DESTDIR$SYSUSERS"

# --- group, config, token, state ------------------------------------------------------------------------------
if [ -z "$DESTDIR" ] && ! getent group "$GROUP" >/dev/null; then
  groupadd --system "$GROUP"
  say "created the system group $GROUP (members may read $ETC)"
fi
owner=()
if [ -z "$DESTDIR" ]; then owner=(-o root -g "$GROUP"); fi
for d in "$ETC" "$ETC/rules.d"; do
  [ -d "$DESTDIR$d" ] || install -d -m 0750 "${owner[@]}" "$DESTDIR$d"
done
[ -d "$DESTDIR$STATE" ] || install -d -m 0755 "$DESTDIR$STATE"

# Installs the file $1 as $2 (0640) unless $2 exists: then an $2 that differs is kept and $1 goes to $2.dist.
kept=()
install_config() {
  local src=$1 dest=$DESTDIR$2
  if [ ! -e "$dest" ]; then
    install -m 0640 "${owner[@]}" "$src" "$dest"
  elif ! cmp -s "$src" "$dest"; then
    install -m 0640 "${owner[@]}" "$src" "$dest.dist"
    kept+=("$dest")
  fi
}

# The rule files etc/standby.yaml uses (its one-line `rules: [...]`), by their names.
rule_list=$(sed -n 's/^rules: *\[\(.*\)\] *\(#.*\)\{0,1\}$/\1/p' etc/standby.yaml)
[ -n "$rule_list" ] || die "etc/standby.yaml has no one-line \`rules: [...]\` list (install.sh reads it)"
IFS=', ' read -r -a rule_files <<<"$rule_list"
for f in "${rule_files[@]}"; do
  [ -n "$f" ] || continue
  [ -f "rules/$(basename "$f")" ] || die "etc/standby.yaml names $f, which is not in rules/"
  install_config "rules/$(basename "$f")" "$ETC/rules.d/$(basename "$f")"
done

conf=$(mktemp "${TMPDIR:-/tmp}/sb-install.XXXXXX")
trap 'rm -f "$conf"' EXIT
{
  echo "# Installed by scripts/install.sh from etc/standby.yaml. Rules: $at$ETC/rules.d/*.yaml (more examples in"
  echo "# $at$LIB/rules/). Check it with: standby check --config $at$ETC/standby.yaml"
  sed -e "s|/etc/standby/|$at$ETC/|g" \
    -e "s|^state_dir:.*|state_dir: $at$STATE|" \
    -e "s|^rules:.*|rules: [\"$at$ETC/rules.d/*.yaml\"]|" -e "s|--config etc/standby.yaml|--config $at$ETC/standby.yaml|" \
    -e "/^# Relative to this file's directory/,/^# rules\/gateway.yaml/d" etc/standby.yaml
} >"$conf"
# The API token, unless the example names one already: api: { listen: ... } → api: { listen: ..., token: ... }
if ! grep -q '^[^#]*api\.token' "$conf"; then
  sed -i -e "s|^api: *{\(.*[^ ]\) *} *\$|api: {\1, token: { file: $at$ETC/api.token }}|" "$conf"
fi
# A relocatable (test) install has its socket inside DESTDIR too (the default is /run/standby/api.sock).
if [ -n "$at" ]; then
  sed -i -e "s|^api: *{|api: { socket: $at/run/standby/api.sock,|" "$conf"
fi
if ! grep -q "^state_dir: $at$STATE\$" "$conf" || ! grep -q "^rules: \[\"$at$ETC/rules.d/\*.yaml\"\]\$" "$conf" ||
  ! grep -q "^[^#]*$at$ETC/api.token" "$conf"; then
  die "etc/standby.yaml no longer has the state_dir:, rules: and api: lines install.sh rewrites"
fi
install_config "$conf" "$ETC/standby.yaml"

token=$DESTDIR$ETC/api.token
if [ ! -e "$token" ]; then
  (
    umask 077
    head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' >"$token.new"
    echo >>"$token.new"
  )
  chmod 0600 "$token.new"
  mv "$token.new" "$token"
  say "created the API token $token (0600)"
fi

# --- report ---------------------------------------------------------------------------------------------------
say "installed $lib, $DESTDIR$BIN (Node.js $node_version: $node_bin) and $DESTDIR$UNIT"
for f in "${kept[@]}"; do
  say "kept your $f; the new version is $f.dist (diff -u $f $f.dist)"
done
if [ -n "$DESTDIR" ]; then
  cat <<EOF
install: DESTDIR: files only. A package's postinst must do the rest:
  getent group $GROUP >/dev/null || groupadd --system $GROUP
  chgrp $GROUP $ETC $ETC/rules.d $ETC/standby.yaml $ETC/rules.d/*.yaml
  [ -s $ETC/api.token ] || (umask 077; head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \\n' >$ETC/api.token)
  [ -d /run/systemd/system ] && systemctl daemon-reload
  (a package must not ship $ETC/api.token: every host would share it; the wrapper runs $node_bin,
  set STANDBY_NODE= for the target's Node.js >= 20)
EOF
  exit 0
fi
if systemd_runs; then
  systemctl daemon-reload
  if systemctl is-active --quiet standby.service; then
    say "standby.service runs the previous version: systemctl restart standby (its state survives a restart)"
  fi
  say "next: edit $ETC/standby.yaml, standby check, systemctl enable --now standby"
else
  say "systemd is not running here: no daemon-reload; start it with: standby run --config $ETC/standby.yaml"
fi
