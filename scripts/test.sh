#!/usr/bin/env bash
# The README's test command: install everything the suite needs into .venv, then run
# lint (ruff), format check, types (mypy) and the whole pytest suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k judge -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${INTERSYN_VENV:-.venv}
PY=${PYTHON:-python3}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip

# Browser tests drive Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
  else
    echo "warning: chromium not found; install Debian's chromium and chromium-driver for browser tests" >&2
  fi
fi

# llama.cpp is compiled from source: GGML_NATIVE=OFF avoids CPU instructions that some
# sandboxes advertise but refuse (seen: "Illegal instruction" with AMX).
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" python -m pip install -q -e ".[all,test]"

echo "== ruff"; ruff check src tests benchmarks
echo "== ruff format"; ruff format --check src tests benchmarks
echo "== mypy"; mypy
echo "== pytest"
# Every optional part must be present here: a test that would skip for a missing
# dependency fails instead (see tests/conftest.py).
export INTERSYN_REQUIRE_ALL="${INTERSYN_REQUIRE_ALL:-1}"
set +e
python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
