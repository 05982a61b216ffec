#!/usr/bin/env bash
# One call on the GPU machine: parity + GPU benchmarks, the 1-GPU DDP/resume runs of
# issue 6, and the offline-track training. Results under $OUT.
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
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print(torch.__version__, torchvision.__version__, torch.cuda.device_count())" | tee -a "$OUT/gpu.txt"

timeout 200 python3 scripts/images_gpu.py --out "$OUT/bench_gpu.json" 2>&1 | tail -n 40

# Issue 6 on one GPU: torchrun with 1 process vs plain single process, same global
# batch and seed; then resume rank 0's checkpoint in a plain process.
TR="--data synthetic --steps 200 --batch-size 256 --log-every 50 --ckpt-every 200 --seed 0 --warmup 100"
timeout 120 torchrun --nproc_per_node=1 -m diffusion.images.train $TR --out /tmp/ddp1 > "$OUT/ddp1.log" 2>&1
timeout 120 python3 -m diffusion.images.train $TR --out /tmp/single > "$OUT/single.log" 2>&1
timeout 120 python3 -m diffusion.images.train ${TR/--steps 200/--steps 250} --out /tmp/ddp1 > "$OUT/resume.log" 2>&1
python3 - <<'PY' > "$OUT/ddp_summary.json"
import json
a = json.load(open("/tmp/single/state.json"))["losses"]
d = json.load(open("/tmp/ddp1/state.json"))
print(json.dumps({"single_losses": a[::10], "torchrun_then_resumed_losses": d["losses"][::10],
                  "resumed_to_step": d["step"],
                  "max_rel_diff_first_200": max(abs(x - y) / abs(y) for x, y in zip(d["losses"][:200], a))}))
PY
tail -n 3 "$OUT"/ddp1.log "$OUT"/single.log "$OUT"/resume.log

if [ "${OFFLINE:-1}" = 1 ]; then  # OFFLINE=0 skips retraining the shipped offline track
  timeout 330 python3 scripts/images_train_offline.py --device cuda --out /tmp/offline \
    --teacher-steps ${TEACHER_STEPS:-6000} --pd-steps ${PD_STEPS:-1000} --cd-steps ${CD_STEPS:-3000} \
    > "$OUT/offline.log" 2>&1
  tail -n 30 "$OUT/offline.log"
  tar cf "$OUT/offline.tar" -C /tmp/offline --exclude runs .
fi
ls -la "$OUT"
