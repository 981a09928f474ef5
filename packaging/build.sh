#!/usr/bin/env bash
# Build a desktop bundle in dist/transfer-studio/ with PyInstaller, from the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup
.venv/bin/python -m pip install --quiet pyinstaller
.venv/bin/pyinstaller --noconfirm --distpath dist --workpath build packaging/transfer_studio.spec
echo "bundle: dist/transfer-studio/ (run dist/transfer-studio/transfer-studio)"
