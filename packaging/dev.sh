#!/usr/bin/env bash
# Set up and start trayjobs, or run its test suite, on a Debian-like machine.
#
#   bash packaging/dev.sh run [ARGS...]    install what is missing, then start the app
#   bash packaging/dev.sh test [ARGS...]   install what is missing, then run every test (and,
#                                          without ARGS, the run history's again on PostgreSQL)
#   bash packaging/dev.sh demo             start the app on a throw-away home with sample files
#
# It installs Debian packages that are missing (Qt's system libraries; for the tests
# also Xvfb, a session bus, a notification daemon and a tray host) with apt-get, as
# root or through sudo, and Python packages into .venv beside this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${TRAYJOBS_VENV:-$ROOT/.venv}

RUN_PKGS="python3 python3-venv libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6
  libglib2.0-0 libxkbcommon0 fonts-dejavu-core fonts-wqy-zenhei libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-util1 libxcb-xkb1
  libxkbcommon-x11-0 libxcb-randr0 libxcb-xfixes0 libxcb-sync1 libxcb-xinerama0 libnss3"
TEST_PKGS="xvfb dbus dunst xdotool x11-utils xfce4-panel libnotify-bin desktop-file-utils
  xdg-utils poppler-utils sqlite3 appstream gnome-keyring redis-server postgresql"
# With no arguments the suite runs in two passes: everything but the three-machine cluster
# tests with the run history in SQLite, then the cluster tests (three workers on a real
# PostgreSQL and redis-server, 10,000 runs among them) and the history's own tests with
# the history on PostgreSQL (started by tests/pg_support.py). The whole suite on
# PostgreSQL takes too long for CI: TRAYJOBS_TEST_STORE=postgres dev.sh test ARGS runs it.
PG_TESTS="tests/test_cluster.py tests/test_store_contract.py tests/test_store_open.py"

say() { printf '\033[1m%s\033[0m\n' "$*" >&2; }

apt_install() {
  command -v dpkg >/dev/null 2>&1 || { say "not a Debian-like system: install Qt's libraries yourself"; return 0; }
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      say "missing system packages (need root to install): ${missing[*]}"; return 1; fi
  fi
  say "installing system packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ] || ! python_ok "$VENV/bin/python"; then
    local py=${PYTHON:-python3}
    python_ok "$py" || { apt_install python3 python3-venv; py=python3; }
    python_ok "$py" || { say "trayjobs needs Python 3.11 or newer with venv"; exit 1; }
    say "creating $VENV"
    rm -rf "$VENV"
    "$py" -m venv "$VENV"
  fi
  local stamp="$VENV/.trayjobs-installed" want
  want=$(cat pyproject.toml packaging/constraints.txt | sha1sum | cut -c1-40)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing Python packages into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    # The versions the suite was last run with (packaging/constraints.txt); where they do not
    # install (another Python, another platform), the newest that pyproject.toml allows.
    if ! "$VENV/bin/python" -m pip install -q -c packaging/constraints.txt -e ".[test]"; then
      say "the tested versions in packaging/constraints.txt do not install here; installing the newest allowed"
      "$VENV/bin/python" -m pip install -q -e ".[test]"
    fi
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-run}; shift || true
case "$cmd" in
  run)
    apt_install $RUN_PKGS
    ensure_venv
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
      say "no display found: starting the headless worker instead (trayjobs worker)"
      exec "$VENV/bin/trayjobs" worker "$@"
    fi
    exec "$VENV/bin/trayjobs" "$@"
    ;;
  demo)
    apt_install $RUN_PKGS
    ensure_venv
    exec "$VENV/bin/python" -m trayjobs.demo "$@"
    ;;
  test)
    apt_install $RUN_PKGS $TEST_PKGS
    ensure_venv
    export QT_QPA_PLATFORM=offscreen
    set +e
    if [ $# -gt 0 ]; then
      "$VENV/bin/python" -m pytest "$@"
      rc=$?
    else
      # Test processes side by side (pytest-xdist), one more than the cores: a test mostly
      # waits on the processes, servers and timers it starts, so one process keeps about
      # half a core busy. On two cores three took 30 % less time than two; four, no less.
      # Tests are handed out one at a time; those of an xdist_group go to one process.
      "$VENV/bin/python" -m pytest -n "$(( $(nproc) + 1 ))" --dist loadgroup \
        --ignore=tests/test_cluster.py
      rc=$?
      if [ $rc -eq 0 ]; then
        say "the cluster and run history tests, on PostgreSQL (TRAYJOBS_TEST_STORE=postgres)"
        # Two processes: the cluster tests, one at a time (an xdist_group), and the others.
        # shellcheck disable=SC2086
        TRAYJOBS_TEST_STORE=postgres "$VENV/bin/python" -m pytest -q -n 2 --dist loadgroup \
          $PG_TESTS
        rc=$?
      fi
    fi
    set -e
    if [ $rc -eq 5 ]; then say "no tests were collected: that is a failure"; exit 1; fi
    exit $rc
    ;;
  *)
    echo "usage: bash packaging/dev.sh run|test|demo [ARGS...]" >&2; exit 2 ;;
esac
