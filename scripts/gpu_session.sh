#!/usr/bin/env bash
# One GPU lease's measurements (docs/performance.md "GPU", docs/reproducing.md), each stage
# time-boxed so that a slow one cannot starve the rest and the end of a lease still returns
# what finished. Run from the repository root:
#   OUT=gpu-out DATA=/path/to/fashion-mnist BUDGET=560 bash scripts/gpu_session.sh
# STAGES picks and orders the stages (default: all, in the order below). BENCH_EXTRA /
# SWEEP_EXTRA add flags to every bench / sweep (a CPU dry run of this script uses them to
# shrink the work). Times in the comments: one H200, third task.
set -u
OUT=${OUT:-gpu-out}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
RUNS=${RUNS:-runs/gpu}
BUDGET=${BUDGET:-560}
ALL_STAGES="environment graphs bench-resnet20 deterministic table2-eighth bench-resnet20-pack bench-resnet56 table1-epoch gr-eighth agr-eighth bench-resnet56-compile"
STAGES=${STAGES:-$ALL_STAGES}
BENCH_EXTRA=${BENCH_EXTRA:-}
SWEEP_EXTRA=${SWEEP_EXTRA:-}
PY=${PY:-python}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUNS"
start=$(date +%s)

stage() {  # stage NAME CAP_SECONDS COMMAND...: run it under the smaller of its cap and the time left
  local name=$1 cap=$2
  shift 2
  local left=$((BUDGET - ($(date +%s) - start)))
  if ((left < 20)); then
    echo "## $name: skipped, ${left} s of the budget left"
    return
  fi
  ((cap > left)) && cap=$left
  echo "## $name (at most ${cap} s) $(date +%T)"
  local t0 rc
  t0=$(date +%s)
  timeout --signal=TERM --kill-after=15 "$cap" "$@"
  rc=$?
  echo "## $name: exit $rc after $(($(date +%s) - t0)) s"
}

run_stage() {
  case $1 in
    environment)
      stage environment 30 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; $PY -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())'; nproc" ;;
    bench-resnet20)  # every method against SGD, the engine against a plain loop (~60 s)
      stage "$1" 90 $PY -m rsmooth bench --model resnet20 --data fashion-mnist $BENCH_EXTRA --json "$OUT/$1.json" ;;
    graphs)  # captured steps (--cuda-graphs, never run on a GPU yet): the real capture against
      # the eager step, then ResNet20 and ResNet56 at K = 1, 8, 64 (eager: the bench stages below)
      stage "$1-test" 90 $PY -m pytest -q -p no:cacheprovider tests/test_capture.py
      stage "$1-resnet20" 90 $PY -m rsmooth bench --model resnet20 --data fashion-mnist --cuda-graphs --methods sgd,sam,agr --pack 1,8,64 --rounds 5 --steps 10 $BENCH_EXTRA --json "$OUT/$1-resnet20.json"
      stage "$1-resnet56" 90 $PY -m rsmooth bench --model resnet56 --data cifar10 --cuda-graphs --methods sgd --skip-engine --pack 1,8,64 --rounds 5 --steps 10 $BENCH_EXTRA --json "$OUT/$1-resnet56.json" ;;
    deterministic)  # determinism's cost (bench) and its promise: two passes, one record
      stage "$1-bench" 60 $PY -m rsmooth bench --model resnet20 --data fashion-mnist --methods sgd,sam --skip-engine --deterministic $BENCH_EXTRA --json "$OUT/$1.json"
      for pass in a b; do
        stage "$1-pass-$pass" 90 $PY -m rsmooth sweep table2-eighth --out "$RUNS/deterministic-$pass" --pack 28 --set deterministic=true --set epochs=4 --set "data_dir=$DATA" $SWEEP_EXTRA
      done
      stage "$1-compare" 20 $PY scripts/same_records.py "$RUNS/deterministic-a" "$RUNS/deterministic-b" ;;
    table2-eighth | gr-eighth | agr-eighth)  # the recipes of docs/reproducing.md, packed: their own engine folder
      stage "$1" 240 $PY -m rsmooth sweep "$1" --out "$RUNS/$1" --pack 64 --set deterministic=true --set "data_dir=$DATA" $SWEEP_EXTRA
      stage "$1-report" 30 $PY -m rsmooth report "$RUNS/$1" --select holdout --metric mean --cost --out "$OUT/$1-report" ;;
    bench-resnet20-pack)  # K runs packed against the same K runs one by one (75 s)
      stage "$1" 90 $PY -m rsmooth bench --model resnet20 --data fashion-mnist --skip-methods --skip-engine --pack 1,4,16,64 --rounds 5 --steps 10 $BENCH_EXTRA --json "$OUT/$1.json" ;;
    bench-resnet56)  # methods, engine and packing on the CIFAR shape (~80 s)
      stage "$1" 110 $PY -m rsmooth bench --model resnet56 --data cifar10 --pack 1,4,16 --rounds 5 --steps 10 $BENCH_EXTRA --json "$OUT/$1.json" ;;
    table1-epoch)  # Table 1 at full Fashion-MNIST: one seed's 64 configurations, one epoch, packed (44 s)
      stage "$1" 75 $PY -m rsmooth sweep table1 --trials 1 --out "$RUNS/table1-one-epoch" --pack 64 --set epochs=1 --set "data_dir=$DATA" $SWEEP_EXTRA ;;
    bench-resnet56-compile)  # torch.compile, paid per model instance: two methods (57 s)
      stage "$1" 80 $PY -m rsmooth bench --model resnet56 --data cifar10 --compile --methods sgd,logistic --skip-engine $BENCH_EXTRA --json "$OUT/$1.json" ;;
    *) echo "## unknown stage $1 (stages: $ALL_STAGES)" ;;
  esac
}

for name in $STAGES; do
  run_stage "$name"
done
tar czf "$OUT/runs.tgz" --exclude='*.pt' "$RUNS"
echo "## done after $(($(date +%s) - start)) s"
