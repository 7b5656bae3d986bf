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
#   /usr/lib/standby/examples/   configs to start a failover group from: etc/standby.yaml (two uplinks, route
#                                actions) and etc/server.yaml (hardware drains a server, http actions), their rules:
#                                naming /usr/lib/standby/rules/ and the API token below, so a copy works anywhere;
#                                read-only, replaced on each install (copy one to /etc/standby/standby.yaml to use it)
#   /usr/bin/standby             a small sh wrapper: the absolute path of a Node.js >= 20 (found now) + the program
#   /usr/lib/systemd/system/standby.service   systemd/standby.service as it is
#   /usr/lib/sysusers.d/standby.conf          systemd/standby.sysusers: the group standby
#   /etc/standby/standby.yaml    OBSERVE-ONLY, from etc/default.yaml (no member has an action: starting the service
#                                changes nothing on the host), with rules: /etc/standby/rules.d/*.yaml, state_dir:
#                                /var/lib/standby, the default API socket and the token below; 0640 root:standby;
#                                never overwritten: an existing file that differs is kept and the new one written
#                                beside it as .dist (an earlier install's two-uplink example too: a note says so)
#   /etc/standby/rules.d/*.yaml  the rule files etc/default.yaml uses (the same rule for existing files; on an
#                                upgrade that keeps a standby.yaml, a rule file it did not have is written as
#                                NAME.yaml.dist, so that the kept config's rules.d/*.yaml loads what it did before)
#   /etc/standby/api.token       32 random bytes in hex, 0600 root; created only when missing
#   /var/lib/standby/            state (created; systemd's StateDirectory= also does)
#   group standby                (groupadd --system; not with DESTDIR)
#
# Expects a built checkout; runs scripts/setup.sh first when dist/ is missing or older than the sources.
# The wrapper runs the `node` found on PATH after scripts/node-path.sh (the system's if >= 20, else the Node 20
# that setup.sh installed under npm's global prefix); STANDBY_NODE=/path/to/node chooses another (packagers: the
# target's Node). STANDBY_INSTALL_RELOCATABLE=1 (with DESTDIR; for tests) writes $DESTDIR-prefixed absolute paths
# into the wrapper, standby.yaml and the examples, so that the installed program runs from the temporary root.
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

# The API token, unless the config $1 names one already: api: { listen: ... } → api: { listen: ..., token: ... }
add_token() {
  if ! grep -q '^[^#]*api\.token' "$1"; then
    sed -i -e "s|^api: *{\([^}]*[^ }]\) *}|api: {\1, token: { file: $at$ETC/api.token }}|" "$1"
  fi
}

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
# The examples: etc/*.yaml but the default (which becomes /etc/standby/standby.yaml below). Their rule files by
# absolute path under $LIB/rules (a copy in /etc/standby finds them), the API token added, their "check it"
# comment naming the installed file.
mkdir -p "$new/examples"
for ex in etc/*.yaml; do
  name=$(basename "$ex")
  [ "$name" != default.yaml ] || continue
  {
    echo "# Installed by scripts/install.sh from etc/$name; replaced on each install. To use it: copy it to"
    echo "# $at$ETC/standby.yaml, edit it, standby check, systemctl reload standby (README: Your first failover group)."
    sed -e "/^# Relative to this file's directory/,/^# rules\/gateway.yaml/d" \
      -e "/^rules:/s|\.\./rules/|$at$LIB/rules/|g" -e "s|/etc/standby/|$at$ETC/|g" \
      -e "s|^state_dir: /var/lib/standby\$|state_dir: $at$STATE|" -e "s|--config etc/$name|--config $at$LIB/examples/$name|" "$ex"
  } >"$new/examples/$name"
  add_token "$new/examples/$name"
  grep -q "^rules: \[$at$LIB/rules/" "$new/examples/$name" || die "etc/$name has no one-line \`rules: [../rules/...]\` list"
done
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

# /etc/standby/standby.yaml: etc/default.yaml, observe-only, with the installed paths. Its leading comment (about
# scripts/run.sh and ../state) gives way to one about the installed file; its api.socket (../state/api.sock)
# goes, so that the default /run/standby/api.sock (the unit's RuntimeDirectory) is used.
conf=$(mktemp "${TMPDIR:-/tmp}/sb-install.XXXXXX")
trap 'rm -f "$conf"' EXIT
{
  echo "# Installed by scripts/install.sh from etc/default.yaml: OBSERVE-ONLY. It watches this host and its default"
  echo "# gateway and switches nothing (no member has an action), so starting the service changes nothing here."
  echo "# To fail over, start from an example in $at$LIB/examples/ (README: Your first failover group)."
  echo "# Rules: $at$ETC/rules.d/*.yaml (more in $at$LIB/rules/). Check it with: standby check --config $at$ETC/standby.yaml"
  sed -e '1,/^[^#]/{/^#/d}' \
    -e "s|/etc/standby/|$at$ETC/|g" \
    -e "s|^state_dir:.*|state_dir: $at$STATE|" \
    -e "s|^rules:.*|rules: [\"$at$ETC/rules.d/*.yaml\"]|" \
    -e "s|^api: *{ *socket: *[^,}]*, *|api: {|" etc/default.yaml
} >"$conf"
add_token "$conf"
# A relocatable (test) install has its socket inside DESTDIR too (the default is /run/standby/api.sock).
if [ -n "$at" ]; then
  sed -i -e "s|^api: *{ *|api: { socket: $at/run/standby/api.sock, |" "$conf"
fi
if ! grep -q "^state_dir: $at$STATE\$" "$conf" || ! grep -q "^rules: \[\"$at$ETC/rules.d/\*.yaml\"\]\$" "$conf" ||
  ! grep -q "^api: {[^#]*$at$ETC/api.token" "$conf" || grep -q '^[^#]*socket: \.\./' "$conf"; then
  die "etc/default.yaml no longer has the state_dir:, rules: and api: lines install.sh rewrites"
fi
# What makes it safe: no member with an action (the loader-based check is test/integration/install.test.ts).
if grep -Eq '(activate|deactivate): *((#.*)?$|[^[ #]|\[ *[^] ])' "$conf"; then
  die "etc/default.yaml has a member with activate:/deactivate: actions; the installed default must have none"
fi

# An upgrade that keeps a standby.yaml of the user's (or an earlier install's) must not change what it loads:
# its rules: may be rules.d/*.yaml, so a rule file it did not have goes in as NAME.yaml.dist.
config_kept=0
if [ -e "$DESTDIR$ETC/standby.yaml" ] && ! cmp -s "$conf" "$DESTDIR$ETC/standby.yaml"; then config_kept=1; fi
new_rules=()
# The rule files etc/default.yaml uses (its one-line `rules: [...]`), by their names.
rule_list=$(sed -n 's/^rules: *\[\(.*\)\] *\(#.*\)\{0,1\}$/\1/p' etc/default.yaml)
[ -n "$rule_list" ] || die "etc/default.yaml has no one-line \`rules: [...]\` list (install.sh reads it)"
IFS=', ' read -r -a rule_files <<<"$rule_list"
for f in "${rule_files[@]}"; do
  [ -n "$f" ] || continue
  n=$(basename "$f")
  [ -f "rules/$n" ] || die "etc/default.yaml names $f, which is not in rules/"
  if [ "$config_kept" = 1 ] && [ ! -e "$DESTDIR$ETC/rules.d/$n" ]; then
    install -m 0640 "${owner[@]}" "rules/$n" "$DESTDIR$ETC/rules.d/$n.dist"
    new_rules+=("$ETC/rules.d/$n")
  else
    install_config "rules/$n" "$ETC/rules.d/$n"
  fi
done

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
if [ "$config_kept" = 1 ] && grep -q '^# Installed by scripts/install.sh from etc/standby.yaml\. Rules:' "$DESTDIR$ETC/standby.yaml"; then
  say "NOTE: $DESTDIR$ETC/standby.yaml is the two-uplink example an earlier install put there: its route actions"
  say "  move the default route to the example gateways (10.200.1.1, 10.200.2.1) unless you changed them. It is kept"
  say "  (a running service may use it); the new default, observe-only (no actions), is $DESTDIR$ETC/standby.yaml.dist."
  say "  To switch to it: cp $ETC/standby.yaml.dist $ETC/standby.yaml$(for r in "${new_rules[@]}"; do printf '; mv %s.dist %s' "$r" "$r"; done); standby check; systemctl reload standby"
elif [ "${#new_rules[@]}" -gt 0 ]; then
  say "kept your $DESTDIR$ETC/standby.yaml, so the new rule files are beside it as .dist: ${new_rules[*]/%/.dist}"
fi
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
  say "next: standby check; systemctl enable --now standby (observe-only: it switches nothing). To fail over, start"
  say "  from $LIB/examples/ (copy one to $ETC/standby.yaml, edit, standby check, systemctl reload standby)"
else
  say "systemd is not running here: no daemon-reload; start it with: standby run --config $ETC/standby.yaml"
fi
