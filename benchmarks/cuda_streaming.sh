#!/bin/bash
# Issue 12's CUDA checks in one go (run from the repository root on a CUDA machine):
# the streaming figures at 1080p (x264 veryfast, batch 8 and 16; medium for the preset study) and 4K (ultrafast),
# bf16, with --codec auto (NVENC where the card has it), then the whole test suite on the CUDA machine.
# (`quick`: those two, then the whole suite), after an A/B of the model stage's planning (plan_ahead_ab.py).
# JSON and logs under $OUT on a lent device (else benchmarks/results/).
# Prepare once here with `bash benchmarks/device_setup.sh fetch`; the device call carries .whl:
#   run(command="bash benchmarks/cuda_streaming.sh", carry=[".whl"])
set -uo pipefail
source benchmarks/device_setup.sh install
set +e
results="${OUT:-benchmarks/results}"  # on a lent device only what is under $OUT comes back
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$results"/cuda-log.txt
# the model stage alone at 1080p, batch 8 and 16: the propagation planned in line or 1-2 batches ahead (4 flow threads, the default on CUDA)
python benchmarks/plan_ahead_ab.py --size 1920x1080 --frames 240 --batch 8,16 --flow-threads 4 --json "$results"/plan-ahead-ab-cuda.json --profile "$results"/model-stage-profile.txt \
  2>&1 | tee -a "$results"/cuda-log.txt
bench() { python -m vidcolor bench --sizes "" --stream-dtypes bf16 "$@" 2>&1 | tee -a "$results"/cuda-log.txt; }
bench --stream-sizes 1920x1080 --stream-batch 8 --preset veryfast --clip-frames 480 \
  --json "$results"/bench-cuda-1080p-veryfast.json
bench --stream-sizes 3840x2160 --stream-batch 8 --preset ultrafast --clip-frames 240 \
  --json "$results"/bench-cuda-4k-ultrafast.json
if [ "${1:-all}" != quick ]; then
bench --stream-sizes 1920x1080 --stream-batch 8 --preset medium --codec auto --clip-frames 240 \
  --json "$results"/bench-cuda-1080p-medium-auto.json
fi
# the whole suite on the CUDA machine (tests needing ../shared skip there); CUDA-only tests included
timeout 120 python -m pytest tests -q -p no:cacheprovider -rs 2>&1 | tail -60 | tee "$results"/cuda-pytest.txt
