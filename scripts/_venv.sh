# Shared by scripts/run and scripts/test: make (or reuse) the virtualenv and install the project.
# Leaves the working directory alone (./var and relative paths in OPSCENTRE_* are the caller's).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "opscentre needs Python 3.11 or newer (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
VENV=${OPSCENTRE_VENV:-$ROOT/.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtualenv $VENV ..." >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.installed-$1"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "installing opscentre and its dependencies into $VENV ..." >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$2"
  touch "$stamp"
fi
