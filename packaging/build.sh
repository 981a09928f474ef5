#!/usr/bin/env bash
# Build the desktop bundle dist/transfer-studio/ with PyInstaller (packaging/transfer_studio.spec),
# then check its structure (packaging/check_bundle.py). About 10 minutes and 4-5 GB of disk.
#
# PYTHON=/path/to/python uses an environment that already has the app's dependencies and the
# `package` extra (pyinstaller); without it, .venv is set up (`make setup`) and the extra added.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ -z "${PYTHON:-}" ]]; then
    make setup
    .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[package]'
    PYTHON=$ROOT/.venv/bin/python
fi
if ! "$PYTHON" -c "import PyInstaller, torch, PySide6" 2>/dev/null; then
    echo "build.sh: $PYTHON lacks pyinstaller, torch or PySide6: pip install -c constraints.txt -e '.[package]'" >&2
    exit 1
fi

# The checkout's engine/ and desktop_app/ are bundled, never another installed copy.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
rm -rf dist/transfer-studio
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/transfer_studio.spec
echo "build.sh: PyInstaller took $(($(date +%s) - start)) s"
"$PYTHON" packaging/check_bundle.py dist/transfer-studio
echo "build.sh: bundle in dist/transfer-studio/ ($(du -sh dist/transfer-studio | cut -f1)); run dist/transfer-studio/transfer-studio --help"
