#!/bin/bash
# Issue 12's CUDA checks in one go (run from the repository root on a CUDA machine):
# the streaming figures at 1080p (x264 veryfast, batch 8 and 16; medium for the preset study) and 4K (ultrafast),
# bf16, with --codec auto (NVENC where the card has it), then the whole test suite on the CUDA machine.
# (`quick`: those two, then the whole suite), after an A/B of the model stage's planning (plan_ahead_ab.py).
# JSON and logs under $OUT on a lent device (else benchmarks/results/).
# Prepare once here with `bash benchmarks/device_setup.sh fetch`; the device call carries .whl:
#   run(command="bash benchmarks/cuda_streaming.sh", carry=[".whl"])
# An A/B of this tree against an older commit: git archive REV vidcolor | tar -x -C .old (ignored), then
#   run(command="bash benchmarks/cuda_streaming.sh ab .old", carry=[".whl", ".old"])
# This tree's settings (e2e_contention_ab.py) with the benches: run(command="bash benchmarks/cuda_streaming.sh e2e")
# Keyframes from both sides on CUDA: `keyframes` (below).
set -uo pipefail
source benchmarks/device_setup.sh install
set +e
results="${OUT:-benchmarks/results}"  # on a lent device only what is under $OUT comes back
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$results"/cuda-log.txt
bench() { python -m vidcolor bench --sizes "" --stream-dtypes bf16 "$@" 2>&1 | tee -a "$results"/cuda-log.txt; }
if [ "${1:-all}" = ab ]; then
  # `ab OLD`: this tree against an older one (OLD: a folder holding its vidcolor/, carried): CUDA tests of the parts
  # changed, the 1080p bench, the whole run at 1080p veryfast alternating new/old twice on one clip (the new one
  # also with the finest flow and a 5 ms switch interval), then 4K if time is left (about 4 minutes; a file each)
  export VIDCOLOR_WEIGHTS="$PWD/weights"
  timeout 90 python -m pytest tests/test_cuda.py tests/test_encoder_process.py tests/test_model_stage.py tests/test_pipeline.py \
    -q -p no:cacheprovider -rs 2>&1 | tail -15 | tee "$results"/cuda-pytest.txt
  bench --stream-sizes 1920x1080 --stream-batch 8 --preset veryfast --clip-frames 480 \
    --json "$results"/bench-cuda-1080p-veryfast.json
  for r in 1 2; do
    for code in new old; do
      # the old tree's weights are this tree's (VIDCOLOR_WEIGHTS); this tree also with the CPU's finest flow (scale 0;
      # CUDA's is 1) and at the interpreter's own switch interval (5 ms; the run's is 1 ms)
      path=$PWD settings="default;flow finest scale 0;switch interval 5 ms"
      [ $code = old ] && path=$PWD/$2 settings=default
      PYTHONPATH="$path:$PYTHONPATH" python benchmarks/e2e_contention_ab.py --settings "$settings" --repeats 1 \
        --clip /tmp/clip-1080p.mp4 --json "$results"/e2e-$code-$r.json 2>&1 | tee -a "$results"/cuda-log.txt
    done
  done
  [ $SECONDS -lt 230 ] && bench --stream-sizes 3840x2160 --stream-batch 8 --preset ultrafast --clip-frames 240 \
    --json "$results"/bench-cuda-4k-ultrafast.json
  exit 0
fi
if [ "${1:-all}" = keyframes ]; then
  # `keyframes` (issue 27): the held stretch on CUDA (tests/test_keyframes.py, its CUDA twin included), then the pop,
  # quality and cost of keyframes from both sides against forward only on the DAVIS dev set, carried as .davis
  # (ignored; prepare here: mkdir -p .davis && cp ../shared/data/eval/davis/*.mp4 .davis/), about 19 MB:
  #   run(command="bash benchmarks/cuda_streaming.sh keyframes", carry=[".whl", ".davis"])
  export VIDCOLOR_WEIGHTS="$PWD/weights"
  timeout 120 python -m pytest tests/test_keyframes.py tests/test_cuda.py -q -p no:cacheprovider -rs 2>&1 | tail -15 \
    | tee "$results"/cuda-keyframes-pytest.txt
  python benchmarks/keyframe_pop.py "$results"/keyframe-pop-davis-dev-cuda.json .davis/*.mp4 2>&1 | tee -a "$results"/cuda-log.txt
  exit 0
fi
if [ "${1:-all}" = e2e ]; then
  # `e2e`: CUDA tests of the parts changed, the 1080p bench, the whole run at 1080p veryfast under a few settings
  # (the host sleeping instead of spinning while it waits for a copy, 4 decoder threads, 2 flow threads; interleaved,
  # twice, with decode alone and the encoder process alone beside; each with where the stages waited),
  # the pipeline with the device emulated, then (if time is left) with a zero chain and 4K (about 5.5 minutes)
  export VIDCOLOR_WEIGHTS="$PWD/weights"
  timeout 90 python -m pytest tests/test_cuda.py tests/test_encoder_process.py tests/test_model_stage.py \
    tests/test_pipeline.py tests/test_interrupts.py -q -p no:cacheprovider -rs 2>&1 | tail -15 | tee "$results"/cuda-pytest.txt
  bench --stream-sizes 1920x1080 --stream-batch 8 --preset veryfast --clip-frames 480 \
    --json "$results"/bench-cuda-1080p-veryfast.json
  python benchmarks/e2e_contention_ab.py --settings "default;blocking events;decoder threads 4;flow threads 2" \
    --repeats 2 --clip /tmp/clip-1080p.mp4 --json "$results"/e2e-ab.json 2>&1 | tee -a "$results"/cuda-log.txt
  # the same pipeline with the device emulated (no GPU touched): the host's side alone on this host, with and without
  # the propagation's planning and with the model thread holding the GIL 8 ms per batch; near decode + encode here
  # means the loss above is CUDA's (copies, events, launches), far from it the host's (about 50 s)
  python benchmarks/pipeline_emulated.py --size 1920x1080 --frames 480 --repeats 1 --gil-ms 8 \
    --json "$results"/pipeline-emulated-1080p.json 2>&1 | tee -a "$results"/cuda-log.txt
  # the pipeline with the networks' cost taken out (zero chain): does it reach its encoder process's own rate?
  [ $SECONDS -lt 300 ] && python benchmarks/pipeline_ceiling.py --size 1920x1080 --frames 480 --repeats 1 \
    --json "$results"/pipeline-ceiling-1080p.json 2>&1 | tee -a "$results"/cuda-log.txt
  [ $SECONDS -lt 300 ] && bench --stream-sizes 3840x2160 --stream-batch 8 --preset ultrafast --clip-frames 240 \
    --json "$results"/bench-cuda-4k-ultrafast.json
  exit 0
fi
# the model stage alone at 1080p, batch 8 and 16: the propagation planned in line or 1-2 batches ahead (4 flow threads, the default on CUDA)
python benchmarks/plan_ahead_ab.py --size 1920x1080 --frames 240 --batch 8,16 --flow-threads 4 --json "$results"/plan-ahead-ab-cuda.json --profile "$results"/model-stage-profile.txt \
  2>&1 | tee -a "$results"/cuda-log.txt
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
