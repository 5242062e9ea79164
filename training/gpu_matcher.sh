#!/bin/bash
# Issue 11's GPU job: continue training the matcher head and the refiner from the committed weights on a lent GPU,
# for MINUTES of wall-clock (default 4.5), batch 32 of 256 px views, 14 DataLoader workers; the exported weights,
# manifest and log come back under $OUT (commit them). Further arguments go to train_matcher.py (e.g. --lr 5e-4).
# Prepare here: `bash benchmarks/device_setup.sh fetch` (kornia wheels + fp16 VGG in .whl/) and the training zips
# re-encoded to fit a device call (64 MiB with the tree): `python training/pack_zips.py .gpudata` (JPEG q80, 29 MB).
#   run(command="bash training/gpu_matcher.sh 4.5", carry=[".whl/kornia-0.9.0-py3-none-any.whl",
#       ".whl/kornia_rs-0.2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
#       ".whl/vgg19-conv4_1-fp16.pth", ".gpudata"])
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/kornia-*.whl .whl/kornia_rs-*.whl
export PYTHONPATH="/tmp/site:$PWD" VIDCOLOR_VGG="$PWD/.whl/vgg19-conv4_1-fp16.pth" PYTHONUNBUFFERED=1
out="${OUT:-runs/matcher-gpu}"
mkdir -p "$out"
nvidia-smi --query-gpu=name --format=csv,noheader
python training/train_matcher.py --data .gpudata/*.zip --device cuda --batch 32 --crop 256 --workers 14 \
  --steps 20000 --minutes "${1:-4.5}" --halve-every 1000 --continue-from matcher,refiner-small \
  --val-count 128 --val-every 250 --ckpt-every 500 --out runs/matcher-gpu "${@:2}" 2>&1 | grep -v "^step .*[^0]0/" | tail -40
cp weights/matcher.safetensors weights/refiner-small.safetensors weights/manifest.json runs/matcher-gpu/log.jsonl "$out"/
