#!/usr/bin/env bash
# GPU measurements of the image track, on the device machine; results under $OUT.
#   1. the benchmark parts (physical mark, training at batch 128 and 512, DDIM 10/50
#      sampling; ours compiled, ours eager and diffusers alternating);
#   2. the compiled-path tests on CUDA (tests/test_images_compile.py);
#   3. time to quality (digits teacher, TTQ_MODES=compiled[,eager]);
#   FID=1: FID parity and feature rate against pytorch-fid; VARIANTS=1: every compile
#   mode under a time budget. Each step has its own time limit.
# diffusers, pytorch-fid and importlib_metadata travel as wheels in .whl/ (no network
# there). The TorchInductor cache is shared by every process of the call and comes
# back as inductor_cache.tgz; carried back in .gpucache/ it spares the next call's
# compilation.
set -u
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export TORCHINDUCTOR_CACHE_DIR=/tmp/inductor
if [ -f .gpucache/inductor_cache.tgz ]; then
  mkdir -p /tmp/inductor && tar xzf .gpucache/inductor_cache.tgz -C /tmp/inductor
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" | tee -a "$OUT/gpu.txt"
T0=$(date +%s)
timeout ${BENCH_LIMIT:-280} python3 scripts/images_gpu.py --out "$OUT/bench_gpu.json" \
  --parts ${PARTS:-forward,train,sample} ${BENCH_ARGS:-} 2>&1 | grep -E "^(forward|train|sample|Traceback|[A-Za-z]*Error)"
echo "bench done after $(( $(date +%s) - T0 )) s"
timeout ${TEST_LIMIT:-150} python3 -m pytest tests/test_images_compile.py ${TESTS:-} -q -rfsP --tb=short \
  -p no:cacheprovider > "$OUT/pytest.log" 2>&1
echo "pytest rc=$? after $(( $(date +%s) - T0 )) s"
grep -E "relative L2|^(FAILED|ERROR|SKIPPED)|passed|failed|Error:" "$OUT/pytest.log" | tail -n 20
if [ "${TTQ:-1}" = 1 ]; then
  timeout ${TTQ_LIMIT:-120} python3 scripts/images_time_to_quality.py --out "$OUT/ttq.json" \
    --modes ${TTQ_MODES:-compiled} 2>&1 | tail -n 4
fi
if [ "${FID:-0}" = 1 ]; then
  timeout 120 python3 scripts/images_gpu.py --out "$OUT/bench_fid.json" --parts parity,fid \
    2>&1 | grep -E "^(parity|fid)"
fi
if [ "${VARIANTS:-0}" = 1 ]; then
  VARIANT_BUDGET=200 VARIANT_LIMIT=90 python3 scripts/images_gpu.py --out "$OUT/variants.json" \
    --parts variants 2>&1 | grep "^variant"
fi
ls -la "$OUT"; echo "total $(( $(date +%s) - T0 )) s"
