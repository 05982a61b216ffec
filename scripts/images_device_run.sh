#!/usr/bin/env bash
# GPU measurements of the image track, on the device machine; results under $OUT.
#   PHASE=bench (default): the compiled-path tests on CUDA, then the benchmark parts
#     (physical mark, training at batch 128 and 512, DDIM 10/50 sampling; ours, ours
#     eager and diffusers alternating), then every compile mode under a time budget.
#   PHASE=quality: time to quality (digits teacher, eager vs compiled), FID parity and
#     feature-extraction rate against pytorch-fid.
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
if [ "${PHASE:-bench}" = bench ]; then
  timeout 200 python3 -m pytest tests/test_images_compile.py -q -rs -s -p no:cacheprovider \
    > "$OUT/pytest.log" 2>&1
  echo "pytest rc=$? after $(( $(date +%s) - T0 )) s"; grep -E "relative L2|passed|failed|Error" "$OUT/pytest.log" | tail -20
  timeout 330 python3 scripts/images_gpu.py --out "$OUT/bench_gpu.json" \
    --parts ${PARTS:-forward,train,sample} 2>&1 | grep -v "^ " | tail -n 12
  echo "bench after $(( $(date +%s) - T0 )) s"
  LEFT=$(( 520 - ($(date +%s) - T0) ))
  if [ $LEFT -gt 60 ]; then
    VARIANT_BUDGET=$(( LEFT - 60 )) VARIANT_LIMIT=90 timeout $LEFT python3 scripts/images_gpu.py \
      --out "$OUT/variants.json" --parts variants 2>&1 | grep "^variant"
  fi
else
  timeout 380 python3 scripts/images_time_to_quality.py --out "$OUT/ttq.json" 2>&1 | tail -n 5
  timeout 120 python3 scripts/images_gpu.py --out "$OUT/bench_fid.json" --parts parity,fid \
    2>&1 | grep -E "^(parity|fid)"
fi
(cd /tmp/inductor 2>/dev/null && tar czf "$OUT/inductor_cache.tgz" . ) || true
ls -la "$OUT"; echo "total $(( $(date +%s) - T0 )) s"
