#!/usr/bin/env bash
# medwb set-up: one script, idempotent, for a fresh clone.
#   ./setup.sh lab   [jupyter args]  set everything up, then open JupyterLab on notebooks/
#   ./setup.sh test  [pytest args]   set everything up, then run the whole test suite
#   ./setup.sh env                   set everything up and stop
# Steps: Debian packages (apt-get, when root on Debian; otherwise say what was skipped),
# a virtual environment in .venv with the CPU build of torch, and the demo cohort in data/demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mode="${1:-env}"; shift || true
case "$mode" in lab|test|env) ;; *) echo "usage: ./setup.sh lab|test|env [args]" >&2; exit 2 ;; esac

say() { printf '\033[1m[medwb setup]\033[0m %s\n' "$*"; }

# 1. Debian packages -----------------------------------------------------------------------
apt_lists=(binder/apt.txt)
[ "$mode" = test ] && apt_lists+=(.ci/apt-test.txt)
want=$(cat "${apt_lists[@]}" 2>/dev/null | sed 's/#.*//' | xargs -n1 2>/dev/null | sort -u | xargs || true)
missing=()
for p in $want; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v apt-get >/dev/null && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    say "installing Debian packages with sudo: ${missing[*]}"
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "SKIPPED Debian packages (no apt-get or not root): ${missing[*]}"
    say "  without invesalius-examples the demo cohort uses a procedural head phantom;"
    say "  tests that need a skipped package are skipped and say so."
  fi
fi

# 2. Python environment --------------------------------------------------------------------
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($py --version)"
  $py -m venv .venv
fi
stamp=.venv/.medwb-installed
want_stamp=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat $stamp 2>/dev/null)" != "$want_stamp" ]; then
  pipargs=(-q -c requirements/constraints.txt)
  # torch==2.13.0 is the CPU wheel on this kind of machine; never let pip pick a CUDA build.
  [ -d /opt/wheels ] && pipargs+=(--find-links /opt/wheels)
  say "installing Python packages into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install "${pipargs[@]}" --upgrade pip >/dev/null
  .venv/bin/python -m pip install "${pipargs[@]}" "torch==2.13.0"
  .venv/bin/python -m pip install "${pipargs[@]}" -e ".[dev]"
  if .venv/bin/python -c "import torch,sys; sys.exit(0 if torch.version.cuda is None else 1)"; then :; else
    say "WARNING: a CUDA build of torch got installed; expected the CPU wheel torch==2.13.0"
  fi
  echo "$want_stamp" > $stamp
fi

# progress bars: redraw rarely when the output is a log file rather than a terminal
[ -t 1 ] || export TQDM_MININTERVAL="${TQDM_MININTERVAL:-15}"

# 3. The demo cohort -----------------------------------------------------------------------
.venv/bin/python -m medwb demo data/demo

# 4. The job -------------------------------------------------------------------------------
export MEDWB_DEMO_DIR="$PWD/data/demo"
case "$mode" in
  lab)
    say "opening JupyterLab on notebooks/ (Ctrl-C to stop)"
    extra=(); [ -z "${DISPLAY:-}" ] && extra+=(--no-browser)
    [ "$(id -u)" = 0 ] && extra+=(--allow-root)   # containers and CI machines often run as root
    exec .venv/bin/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 "${extra[@]}" "$@" ;;
  test)
    say "running the test suite"
    exec .venv/bin/python -m pytest "$@" ;;
  env) say "ready: .venv and data/demo (run ./setup.sh lab to open JupyterLab)" ;;
esac
