#!/bin/bash
# What a lent GPU machine needs that it lacks (its Python 3.12 has torch + CUDA, numpy, opencv, pillow, safetensors,
# click, pyyaml; NOT av or kornia): carried wheels and an fp16 copy of the VGG19 file, all in the ignored .whl/.
#   here, once:      bash benchmarks/device_setup.sh fetch     (needs ../shared and the package registry)
#   on the device:   source benchmarks/device_setup.sh install (the device call must carry .whl)
# Then `python -m vidcolor ...` runs from the repository root there.
set -euo pipefail
case "${1:-install}" in
  fetch)
    mkdir -p .whl
    for spec in av==18.1.0 kornia==0.9.0 kornia_rs==0.2.0; do
      python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "$spec"
    done
    # fp16 halves the 14 MB file; vidcolor loads it as float32 (weights.load_vgg_state)
    python3 -c "import torch; s = torch.load('../shared/weights/vgg19-imagenet-caffe-conv4_1.pth'); \
torch.save({k: v.half() for k, v in s.items()}, '.whl/vgg19-conv4_1-fp16.pth')"
    du -sh .whl
    ;;
  install)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    export VIDCOLOR_VGG="$PWD/.whl/vgg19-conv4_1-fp16.pth"
    ;;
esac
