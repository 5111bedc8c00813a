#!/usr/bin/env bash
# The first check on a GPU machine that cannot download (Python 3.12, torch with CUDA): install the wheels that
# `make gpu-wheels` gathered into tools/wheels, run `llm-recipes doctor` on the shipped training recipes, then
# `scripts/bench_plan.py --measure` (a few real steps of each recipe that fits the card, random weights, nothing
# downloaded). Doctor's lines, the measuring log and recipekit/plan/measured_runs.yaml go to $OUT (else
# outputs/gpu_check). Each step prints its time; a failed step ends the script with one line on stderr.
#
# Usage, from the repository root:
#   bash tools/gpu_check.sh             on the GPU machine
#   bash tools/gpu_check.sh --rehearse  here: every wheel installed for Python 3.12 / x86_64 into a scratch
#                                       folder (not imported: this Python is not 3.12), the wheels it would install
#                                       on this environment, and the project's modules the steps run imported
#                                       without the packages such a machine lacks
# GPU_CHECK_RECIPES: the recipes (default: the training recipes in recipes/ and recipes/classifier/, measured in
# that order); GPU_CHECK_MEASURE_SECONDS: the measuring step's limit (default 420, so that the whole script fits in
# about 9 minutes; the rows measured before it still come back in bench_plan.txt). The whole output also goes to
# gpu_check.log there.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
WHEELS=tools/wheels
RESULTS=${OUT:-outputs/gpu_check}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1

fail() { echo "error: tools/gpu_check.sh: $*" >&2; exit 2; }

step() {  # step NAME COMMAND...: runs it, prints its time, ends the script when it fails
    local name=$1 start=$SECONDS status
    shift
    "$@"
    status=$?
    echo "step $name: $((SECONDS - start)) s (exit $status)"
    [ "$status" -eq 0 ] || fail "step $name failed (exit $status)"
}

# the wheels to install: each one whose version is not the one installed (they are the project's resolved versions)
to_install() {
    "$PY" - "$WHEELS" <<'PYTHON'
import importlib.metadata as md
import sys
from pathlib import Path

for wheel in sorted(Path(sys.argv[1]).glob("*.whl")):
    name, version = wheel.name.split("-")[:2]
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        have = None
    if have != version:
        print(wheel)
PYTHON
}

# the project's modules the steps run, imported with the packages a GPU machine lacks made unimportable
imports_without_extras() {
    "$PY" - <<'PYTHON'
import importlib
import runpy
import sys

for absent in ("rapidfuzz", "datasketch", "jieba", "nltk", "rouge_chinese", "rouge_score", "wandb", "lm_eval"):
    sys.modules[absent] = None  # an import of it raises ImportError
for module in ("recipekit.commands.doctor", "recipekit.commands.plan", "recipekit.plan.measure",
               "recipekit.plan.probe"):
    importlib.import_module(module)
runpy.run_path("scripts/bench_plan.py")  # its imports and definitions, not its main
print("imported without the machine's missing packages: doctor, bench_plan, plan, measure, probe")
PYTHON
}

ls "$WHEELS"/*.whl >/dev/null 2>&1 || fail "no wheels in $WHEELS: run 'make gpu-wheels' on a machine with the registry"

if [ "${1:-}" = "--rehearse" ]; then
    [ -n "${PYTHON:-}" ] || [ ! -x .venv/bin/python ] || PY=.venv/bin/python  # the project's environment
    platforms=()
    for n in 17 24 27 28 31 34 35; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
    target=$(mktemp -d)
    trap 'rm -rf "$target"' EXIT
    step install-elsewhere "$PY" -m pip install --quiet --target "$target" --no-index --no-deps --no-compile \
        --find-links "$WHEELS" --python-version 3.12 --implementation cp "${platforms[@]}" \
        --platform manylinux2014_x86_64 --only-binary=:all: "$WHEELS"/*.whl
    installed=$(ls -d "$target"/*.dist-info | wc -l)
    wheels=$(ls "$WHEELS"/*.whl | wc -l)
    [ "$installed" -eq "$wheels" ] || fail "$installed of $wheels wheels installed into $target"
    echo "installed all $wheels wheels for Python 3.12 / x86_64 into a scratch folder ($(du -sh "$target" | cut -f1))"
    echo "would install here: $(to_install | xargs -r -n1 basename | tr '\n' ' ')"
    step imports imports_without_extras
    exit 0
fi

mkdir -p "$RESULTS" || fail "cannot make $RESULTS"
exec > >(tee "$RESULTS/gpu_check.log") 2>&1
total=$SECONDS
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || fail "the wheels are for Python 3.12"
mapfile -t wheels < <(to_install)
echo "installing ${#wheels[@]} wheels: ${wheels[*]##*/}"
if [ "${#wheels[@]}" -gt 0 ]; then
    step install "$PY" -m pip install --quiet --no-index --no-deps --no-compile --find-links "$WHEELS" "${wheels[@]}"
fi
step imports "$PY" -c 'import llamafactory.train.tuner, trl, datasets, deepspeed, bitsandbytes, transformers, peft
import torch; assert torch.cuda.is_available(), "torch sees no GPU"; print("imports:", torch.cuda.get_device_name())'
step project-imports imports_without_extras
mapfile -t recipes < <(printf '%s\n' ${GPU_CHECK_RECIPES:-recipes/*.yaml recipes/classifier/*.yaml} | grep -v _predict)
[ "${#recipes[@]}" -gt 0 ] || fail "no recipes in ${GPU_CHECK_RECIPES:-recipes/}"
start=$SECONDS
"$PY" scripts/doctor.py "${recipes[@]}" 2>&1 | tee "$RESULTS/doctor.txt"
status=${PIPESTATUS[0]}
echo "step doctor: $((SECONDS - start)) s (exit $status; 1: a check failed, listed above)"
[ "$status" -le 1 ] || fail "step doctor failed (exit $status)"
step measure timeout "${GPU_CHECK_MEASURE_SECONDS:-420}" "$PY" scripts/bench_plan.py --measure \
    "${recipes[@]}" > >(tee "$RESULTS/bench_plan.txt") 2>&1
cp recipekit/plan/measured_runs.yaml "$RESULTS/" || fail "bench_plan wrote no recipekit/plan/measured_runs.yaml"
echo "total: $((SECONDS - total)) s; results in $RESULTS"
