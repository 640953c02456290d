# Sourced by ./run and ./run-tests: find a Python 3.11+ and make .venv with it once.

find_python() {
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Galvani needs Python 3.11 or newer; none was found on PATH." >&2
  return 1
}

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    "$(find_python)" -m venv .venv
  fi
}

# Install the locked dependencies (requirements/*.lock, made by scripts/lock: exact versions, each file checked
# against its sha256), then Galvani itself from this folder without resolving anything again.
install_locked() {
  local lock=$1
  pip_install --require-hashes -r "$lock"
  pip_install --no-deps -e .
}

pip_install() {
  .venv/bin/pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v 'is ignored: it is neither' >&2)
}
