#!/bin/bash
# Issue 12's CUDA checks in one go (run from the repository root on a CUDA machine, VIDCOLOR_VGG set):
# the CUDA-only tests, then the streaming figures at 1080p (x264 veryfast) and 4K (ultrafast), bf16, batch 8,
# with NVENC through --codec auto where the card has it. JSON under benchmarks/results/.
# Prepare once here with `bash benchmarks/device_setup.sh fetch`; the device call carries .whl.
set -euo pipefail
source benchmarks/device_setup.sh install
results="${OUT:-benchmarks/results}"  # on a lent device only what is under $OUT comes back
python -m pytest tests -q -k cuda
python -m vidcolor bench --sizes "" --stream-sizes 1920x1080 --stream-batch 8 --stream-dtypes bf16 --preset veryfast \
  --clip-frames 240 --json "$results"/bench-cuda-1080p-veryfast.json
python -m vidcolor bench --sizes "" --stream-sizes 3840x2160 --stream-batch 8 --stream-dtypes bf16 --preset ultrafast \
  --clip-frames 120 --json "$results"/bench-cuda-4k-ultrafast.json
python -m vidcolor bench --sizes "" --stream-sizes 1920x1080 --stream-batch 8 --stream-dtypes bf16 --codec auto \
  --clip-frames 240 --json "$results"/bench-cuda-1080p-auto.json
