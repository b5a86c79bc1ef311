#!/usr/bin/env bash
# Checks (and where it can, installs) what the local stack needs outside Python:
# Java 17+ for the emulators, Chromium for the browser tests, and Google's Pub/Sub and
# Firestore emulators.
set -euo pipefail

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
# Children of the local stack get their parent-death signal from setpriv (local/shutdown.py).
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
# The integrations pages are tested in a real headless Chromium (Debian's, with its driver).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# `make bench` replays its mixed ingest load with wrk (scripts/check-tools.sh bench).
if [ "${1:-}" = bench ]; then command -v wrk >/dev/null 2>&1 || need_apt+=(wrk); fi
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need_apt[*]} with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing: ${need_apt[*]} (install them, e.g. with apt-get)" >&2
    exit 1
  fi
fi

sdk=/usr/lib/google-cloud-sdk/platform
if [ ! -x "$sdk/pubsub-emulator/bin/cloud-pubsub-emulator" ] && ! gcloud beta emulators pubsub --help >/dev/null 2>&1; then
  echo "the Pub/Sub emulator is missing: install google-cloud-cli-pubsub-emulator" >&2
  exit 1
fi
if [ ! -e "$sdk/cloud-firestore-emulator/cloud-firestore-emulator.jar" ] && ! gcloud emulators firestore --help >/dev/null 2>&1; then
  echo "the Firestore emulator is missing: install google-cloud-cli-firestore-emulator" >&2
  exit 1
fi
