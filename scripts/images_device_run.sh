#!/usr/bin/env bash
# GPU measurements of the image track, on the device machine; results under $OUT.
#   1. the benchmark parts (PARTS, default: physical mark, sampling DDIM 10/50, training
#      at batch 128 and 512; ours compiled, ours eager and diffusers alternating);
#   2. TESTS=1: the compiled-path tests on CUDA (tests/test_images_compile.py; PYTEST_ARGS);
#   3. TTQ=1: time to quality (digits teacher recipe trained eager and compiled until it
#      reaches the shipped teacher's FD-1000; TTQ_ARGS);
#   4. FID=1: FID parity and feature rate against pytorch-fid;
#   5. VARIANTS=1: other compile modes, each in its own process under VARIANT_LIMIT s,
#      all of them under VARIANT_BUDGET s (VARIANT_JOBS: kind:mode list).
# Each step has its own time limit (*_LIMIT), so one slow step cannot eat the call. With
# a cold Inductor cache the whole bench needs about 500 s (2026-12-03: mark 71 s, sampling
# 58 s, training at batch 128 about 270 s with 93 s of compiling; at 400 s batch 512 was
# cut off); time to quality about 320 s with its default cap.
# diffusers, pytorch-fid and importlib_metadata travel as wheels in .whl/ (no network
# there; built with pip download as in /work/.library/device/README.md's notes). The
# TorchInductor cache (/tmp/inductor) is shared by every process of the call; a
# .gpucache/inductor_cache.tgz carried along is unpacked into it first.
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
stamp() { echo "$1 after $(( $(date +%s) - T0 )) s ($(date -u +%H:%M:%S) UTC)"; }
if [ -n "${PARTS-forward,sample,train}" ]; then
  timeout ${BENCH_LIMIT:-540} python3 scripts/images_gpu.py --out "$OUT/bench_gpu.json" \
    --parts ${PARTS:-forward,sample,train} ${BENCH_ARGS:-} 2>&1 \
    | grep -E "^(forward|train|sample|Traceback|[A-Za-z]*Error)"
  stamp "bench done"
fi
if [ "${TESTS:-1}" = 1 ]; then
  timeout ${TEST_LIMIT:-150} python3 -m pytest tests/test_images_compile.py ${PYTEST_ARGS:-} \
    -q -rfsP --tb=short -p no:cacheprovider > "$OUT/pytest.log" 2>&1
  stamp "pytest rc=$?"
  grep -E "relative L2|^(FAILED|ERROR|SKIPPED)|passed|failed|Error:" "$OUT/pytest.log" | tail -n 20
fi
if [ "${TTQ:-0}" = 1 ]; then
  timeout ${TTQ_LIMIT:-330} python3 scripts/images_time_to_quality.py --out "$OUT/ttq.json" \
    ${TTQ_ARGS:-} 2>&1 | tail -n 60
  stamp "ttq done"
fi
if [ "${FID:-0}" = 1 ]; then
  timeout ${FID_LIMIT:-120} python3 scripts/images_gpu.py --out "$OUT/bench_fid.json" \
    --parts parity,fid 2>&1 | grep -E "^(parity|fid)"
  stamp "fid done"
fi
if [ "${VARIANTS:-0}" = 1 ]; then
  VARIANT_BUDGET=${VARIANT_BUDGET:-200} VARIANT_LIMIT=${VARIANT_LIMIT:-120} \
    timeout $(( ${VARIANT_BUDGET:-200} + 30 )) python3 scripts/images_gpu.py \
    --out "$OUT/variants.json" --parts variants 2>&1 | grep "^variant"
  stamp "variants done"
fi
ls -la "$OUT"; stamp total
