#!/usr/bin/env bash
# Makes sure `promtool` and `prometheus` (Debian package `prometheus`) are on PATH: the dashboard and alert-rule
# tests run the real Prometheus. Installs the package when missing and this machine can; otherwise stops, saying
# what to install. Run as the npm `pretest` step and by .ci/run.
set -eu

package=prometheus
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi

echo "ensure-promtool: promtool/prometheus not found; installing the Debian package '$package' (apt-get)" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-promtool: apt-get is not available here: install the '$package' package (Prometheus 2.x with promtool) by hand, then rerun" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_cmd="sudo -n"
  else
    echo "ensure-promtool: not root and no password-less sudo: run 'apt-get install $package' as root, then rerun" >&2
    exit 1
  fi
else
  sudo_cmd=""
fi

log=$(mktemp /tmp/ensure-promtool.XXXXXX.log)
trap 'rm -f "$log"' EXIT
if ! { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq \
    --no-install-recommends "$package"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "ensure-promtool: apt-get could not install '$package' (output above)" >&2
  exit 1
fi

if ! command -v promtool >/dev/null 2>&1; then
  echo "ensure-promtool: installed '$package' but promtool is still not on PATH" >&2
  exit 1
fi
echo "ensure-promtool: installed $(promtool --version 2>&1 | head -n 1)" >&2
