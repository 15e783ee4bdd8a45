#!/usr/bin/env bash
# The GPU checks of issue 19 in one command, for a lent GPU machine (no registry there: fastai & co. travel as wheels in
# .whl/, see /work/.library/device/README.md). Each step has its own time limit and writes its JSON into $OUT as soon as
# it has it, so one that fails or runs out of time does not cost the others.
#   OUT=/tmp/out bash bench/gpu_suite.sh            # on the GPU machine
#   SUITE_SMOKE=1 OUT=/tmp/out bash bench/gpu_suite.sh   # rehearsal on a CPU: tiny sizes, fp32, every script once
set -u
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
OUT=${OUT:-/tmp/gpu_suite}; mkdir -p "$OUT"
PY=${PY:-python3}
if [ -d .whl ] && ! $PY -c 'import fastai' 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-}:$PWD
LOGS=/tmp/suite_logs; mkdir -p $LOGS  # $OUT keeps the JSONs only (8 files come back at most)
# step LIMIT NAME CMD...: runs CMD unless SUITE_ONLY is set and does not name NAME
step() { local t=$1 name=$2; shift 2; [ -n "${SUITE_ONLY:-}" ] && [[ " $SUITE_ONLY " != *" $name "* ]] && return
  echo "=== $name ($(date +%T), limit ${t}s)"; local s=$SECONDS
  timeout --signal=INT --kill-after=10 "$t" "$@" > "$LOGS/$name.log" 2>&1; local rc=$?
  tail -n 25 "$LOGS/$name.log" | grep -v -i 'warn' ; echo "=== $name: exit $rc in $((SECONDS - s))s"; }
nvidia-smi -L 2>/dev/null; $PY -c 'import torch, torchvision, timm, fastai, kornia; print("torch", torch.__version__, "torchvision", torchvision.__version__, "timm", timm.__version__, "fastai", fastai.__version__, "kornia", kornia.__version__, "cuda", torch.cuda.is_available())'
J=$($PY -c "import sys; sys.path.insert(0, 'bench'); from loader import make_jpegs; print(make_jpegs(${SUITE_N:-1024})[0][0].parent)" 2>/dev/null | tail -1)
rm -rf /tmp/j64; mkdir -p /tmp/j64 && ls "$J"/*.jpg | head -64 | xargs cp -t /tmp/j64
echo "jpegs: $J ($(ls $J | wc -l) files)"
if [ -n "${SUITE_SMOKE:-}" ]; then
  step 300 throughput $PY bench/throughput.py --arch resnet18 --size 32 --bs 16 --steps 2 --files /tmp/j64 --loaders cpu:0,cpu:1 --copies 2 --out $OUT/throughput.json
  step 300 gpu_checks $PY bench/gpu_checks.py --data /tmp/j64 --archs resnet18 --precisions 32-true --bs 16 --workers 1 --size 32 --out $OUT/gpu_checks.json
  step 200 loader $PY bench/loader.py --n 64 --bs 16 --batches 2 --workers 0,1 --repeats 1 --out $OUT/loader.json
  exit 0
fi
step 90 throughput_cl $PY bench/throughput.py --arch resnet50 --size 224 --bs 256 --precision bf16 --channels-last --steps 10 --out $OUT/throughput_cl.json
step 50 throughput_r18 $PY bench/throughput.py --arch resnet18 --size 224 --bs 256 --precision bf16 --channels-last --steps 10 --out $OUT/throughput_r18.json
step 50 throughput_nchw $PY bench/throughput.py --arch resnet50 --size 224 --bs 256 --precision bf16 --steps 10 --out $OUT/throughput_nchw.json
step 160 gpu_checks $PY bench/gpu_checks.py --data /tmp/j64 --bs 16 --workers 4 --out $OUT/gpu_checks.json
step 70 throughput_files $PY bench/throughput.py --arch resnet50 --size 224 --bs 128 --precision bf16 --channels-last --steps 6 --files $J --loaders cpu:5,cpu:10,cpu:15 --out $OUT/throughput_files.json
step 90 gpu_decode $PY bench/gpu_decode_check.py
step 130 loaders_resnet50 $PY bench/throughput.py --arch resnet50 --size 224 --bs 256 --precision bf16 --channels-last --steps 4 --files $J --copies 4 --loaders cpu:6,cpu:14,gpu:2,gpu:4 --out $OUT/loaders_resnet50.json
step 100 loaders_resnet18 $PY bench/throughput.py --arch resnet18 --size 224 --bs 256 --precision bf16 --channels-last --steps 4 --files $J --copies 4 --loaders cpu:14,gpu:2,gpu:4 --out $OUT/loaders_resnet18.json
step 60 loader $PY bench/loader.py --n 1024 --bs 128 --batches 6 --workers 0,4,8 --gpu-workers 0,2,4 --repeats 1 --out $OUT/loader_gpu.json
step 80 max_batch $PY bench/max_batch.py --start 128 --tol 0.05 --out $OUT/max_batch.json
echo "suite done at $(date +%T)"
