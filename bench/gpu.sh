#!/usr/bin/env bash
# medwb models/explain/pipeline on a lent CUDA GPU, in about 8 minutes (sections 1-2 under 5):
#   1. bench_explain.py on CUDA at 128³ (IG vs its floor, occlusion vs MONAI, Grad-CAM vs MONAI/hooks)
#   2. training throughput of TeachingNet3D at 64³ with and without mixed precision (synthetic cases)
#   3. the cohort pipeline (medwb.pipeline) on CUDA — batched cases, pinned memory — against the CPU,
#      and the pipeline tests including tests/pipeline/test_pipeline_cuda.py
# Results: bench/results/explain_gpu.json, train_gpu.json and pipeline_gpu.json.
# Usage (repository root, venv with a CUDA torch): bash bench/gpu.sh [python]
set -euo pipefail
PY="${1:-${PYTHON:-.venv/bin/python}}"
cd "$(dirname "$0")/.."
mkdir -p bench/results
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
timeout 240 "$PY" bench/bench_explain.py --device cuda --size 128 --steps 32 --repeats 5 \
    --out bench/results/explain_gpu.json
timeout 120 "$PY" - <<'PYEOF'
import json, statistics, sys, time
from pathlib import Path
sys.path.insert(0, ".")
import torch
from medwb.models import Preprocess, TeachingNet3D, VolumeDataset, seed_everything, train
from medwb.models.synthetic import synthetic_cases

vols, labels, _ = synthetic_cases(128, seed=0, shape=(48, 80, 80), spacing=2.5)
ds = VolumeDataset(vols, labels, preprocess=Preprocess(window=(60.0, 200.0), spacing=3.0, shape=(64, 64, 64)))
ds.preload(progress=False)
out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "n_cases": len(ds), "input": [64, 64, 64]}
for amp in (False, True):
    for bs in (8, 32):
        seed_everything(0)
        net = TeachingNet3D()
        t = time.perf_counter()
        h = train(net, ds, epochs=4, batch_size=bs, device="cuda", amp=amp, augment=None, early_stopping=None,
                  progress=False)
        torch.cuda.synchronize()
        secs = h["seconds"].tolist()[1:]  # first epoch includes CUDA start-up
        out[f"amp={amp},batch={bs}"] = {"samples_per_second": len(ds) / statistics.median(secs),
                                         "epoch_seconds": secs, "final_train_loss": float(h["train_loss"].iloc[-1])}
        print(f"amp={amp} batch={bs}: {len(ds) / statistics.median(secs):.0f} samples/s")
Path("bench/results/train_gpu.json").write_text(json.dumps(out, indent=2))
print("wrote bench/results/train_gpu.json")
PYEOF
# 3. medwb.pipeline on CUDA: 32 demo cases, predict + saliency at 128³, CUDA (batch 8, pinned) vs CPU
timeout 300 "$PY" bench/bench_pipeline.py --mode gpu --n-cases 32 --size 128 --repeats 2 \
    --out bench/results/pipeline_gpu.json
MEDWB_DEMO_DIR="${MEDWB_DEMO_DIR:-$PWD/data/demo}" timeout 240 "$PY" -m pytest tests/pipeline -q -x -p no:cacheprovider
