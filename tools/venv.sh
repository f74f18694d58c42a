# Sourced by tools/sim and tools/test: a virtual environment in .venv with the
# package and its test dependencies, (re)installed when setup.cfg changes.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$top/.venv"
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ "$top/setup.cfg" -nt "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e "$top[test]"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
