# Sourced by run.sh and test.sh after setup.sh: where the Node on PATH is older than 20 (Debian 12's, with a PATH
# that lacks /usr/local/bin, as cron's), use the Node 20 that setup.sh installed under npm's global prefix.
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
  PATH="$(npm prefix -g)/bin:$PATH"
  export PATH
  hash -r
fi
