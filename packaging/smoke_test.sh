#!/usr/bin/env bash
# Smoke-test a built bundle as a user would run it, offline, on the CPU:
#   packaging/smoke_test.sh [DIR]
# DIR holds the two executables: the bundle (default dist/transfer-studio) or an installed
# usr/bin with the package's links. The CLI writes the demo, trains one epoch, exports to ONNX with
# its parity check and predicts with onnxruntime; the GUI starts offscreen until torch is ready.
# Every step's output is shown; the first failure stops the test with "SMOKE TEST FAILED".
set -uo pipefail

DIR=${1:-dist/transfer-studio}
CLI=$DIR/transfer-studio
GUI=$DIR/transfer-studio-gui
PY=${PYTHON3:-python3}  # only to read the JSON/CSV results
STEP_TIMEOUT=${SMOKE_STEP_TIMEOUT:-900}

fail() {
    echo "SMOKE TEST FAILED: $*" >&2
    exit 1
}
for exe in "$CLI" "$GUI"; do
    [[ -x $exe ]] || fail "$exe is missing or not executable (build it: bash packaging/build.sh)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/transfer-studio-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# A private home: the GUI's settings and demo data never touch the user's.
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_DATA_HOME=$WORK/home/.local/share
export TRANSFER_STUDIO_OFFLINE=1 # no weight downloads
mkdir -p "$HOME"

# step NAME COMMAND...: run it with a time limit, show its output, fail on a non-zero exit.
step() {
    local name=$1 start rc
    shift
    echo "---- $name: $*"
    start=$(date +%s)
    timeout "$STEP_TIMEOUT" "$@" 2>&1 | tee "$WORK/$name.log"
    rc=${PIPESTATUS[0]}
    echo "---- $name: exit $rc in $(($(date +%s) - start)) s"
    [[ $rc -eq 0 ]] || fail "$name exited with $rc (output above)"
}

# check PYTHON_EXPR_ON_DATA MESSAGE: evaluate a check on a JSON file's content (data).
check_json() {
    local file=$1 expr=$2 message=$3
    [[ -f $file ]] || fail "$file was not written"
    "$PY" -c "import json,sys; data=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" "$file" ||
        fail "$message ($file)"
}

step help "$CLI" --help
step demo "$CLI" demo "$WORK/demo"
[[ -d $WORK/demo/source && -d $WORK/demo/target/test ]] || fail "demo did not write source/ and target/test/"

step train "$CLI" train --source "$WORK/demo/source" --target "$WORK/demo/target/train" \
    --target-test "$WORK/demo/target/test" --backbone small_cnn --weights random --epochs 1 --batch-size 16 \
    --runs-dir "$WORK/runs" --name smoke --quiet
RUN=$WORK/runs/smoke
check_json "$RUN/run.json" 'data["status"] == "finished" and data["epoch"] == 1' "the run did not finish its epoch"
# Ten classes: chance is 0.1; one epoch of 75 steps takes the small CNN to about 0.95 on
# held-out source images.
check_json "$RUN/run.json" 'data["best_metrics"]["val/acc"] > 0.6' "training did not learn (val/acc near chance)"

step export "$CLI" export "$RUN"
check_json "$RUN/exports/export_report.json" 'data["parity"]["passed"] is True' "ONNX parity with PyTorch failed"

step predict "$CLI" predict "$RUN/exports/model.onnx" "$WORK/demo/source" --csv "$WORK/predictions.csv"
"$PY" - "$WORK/predictions.csv" <<'EOF' || fail "predictions are wrong (see above)"
import csv, pathlib, sys
rows = list(csv.DictReader(open(sys.argv[1])))
errors = [r for r in rows if r["error"]]
right = sum(pathlib.Path(r["path"]).parent.name == r["prediction"] for r in rows)
print(f"predict: {len(rows)} images, {len(errors)} errors, accuracy {right / max(len(rows), 1):.3f} on the source")
sys.exit(0 if rows and not errors and right / len(rows) > 0.6 else 1)
EOF

# The GUI, offscreen: --timings prints {"window_shown": ...} then {"torch_ready": ...} and quits.
STEP_TIMEOUT=300 step gui env QT_QPA_PLATFORM=offscreen "$GUI" --timings
grep -q '"window_shown"' "$WORK/gui.log" || fail "the GUI did not show its window"
grep -q '"torch_ready"' "$WORK/gui.log" || fail "the GUI never reported torch_ready (torch failed to load)"

echo "SMOKE TEST PASSED: $DIR (CLI demo/train/export/predict, GUI torch_ready)"
