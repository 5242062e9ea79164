"""`vidcolor run`: one streaming pass, three stages, bounded queues, memory independent of the film's length.

decoder (input container: demux + decode -> luma planes) -> model (batches -> chroma planes, model_stage.py) ->
encoder (luma + chroma planes -> chunk files, in a process of its own: io/encoder_process.py). The source's luma
plane goes to the encoder untouched.
Each container belongs to one thread. The main thread supervises: it joins with timeouts (so Ctrl-C arrives),
a shared stop event ends every stage, and the first exception is re-raised naming its stage. Completed chunks are
recorded in a work folder beside the output, so ``resume`` continues after the last one; when every frame is
encoded the chunks and the source's audio are muxed into a temporary file that is renamed to the output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import av

from vidcolor.errors import VidcolorError
from vidcolor.io.assemble import assemble
from vidcolor.io.encode import EncodeSettings, output_format, resolve_codec
from vidcolor.io.encoder_process import EncoderProcess
from vidcolor.io.media import VideoInfo, probe
from vidcolor.io.streams import check_or_fail
from vidcolor.io.yuv import PlanarFormat, plan_planar
from vidcolor.shots.refs import ReferencePlan
from vidcolor.stream.decode_stage import DecodeStage, FrameRange
from vidcolor.stream.timerange import FrameWindow
from vidcolor.stream.work_state import WorkState, run_fingerprint, work_dir_for

if TYPE_CHECKING:  # torch is imported when the predictor is built, after every argument is checked
    from vidcolor.chain.predictor import Predictor
    from vidcolor.stream.model_stage import ModelStage

END = object()


@dataclass(frozen=True)
class RunOptions:
    batch: int = 4
    chunk_frames: int = 240
    encode: EncodeSettings = EncodeSettings()
    resume: bool = False
    fresh: bool = False
    window: FrameWindow | None = None  # a segment (--start/--duration): its frames only, timed from its start
    propagate: bool = True  # carry colours along the motion within a shot (chain/propagation.py)
    keyframe_span: int = 300  # the longest stretch before a keyframe coloured from both sides (shots/refs.py)


def run_plan(plan: ReferencePlan, options: RunOptions) -> ReferencePlan:
    """The plan as this run follows it: stretches held up to ``keyframe_span`` frames, none without the
    propagation (nothing is carried, so nothing is coloured back from a keyframe)."""
    return replace(plan, max_span=options.keyframe_span if options.propagate else 0)


@dataclass
class Summary:
    frames: int
    seconds: float
    resumed_from: int
    stopped_early: str | None
    streams: list[str]
    encoder: str = ""
    waits: dict[str, float] = field(default_factory=dict)  # Waits.seconds of the run (what bounds it)

    @property
    def fps(self) -> float:
        return (self.frames - self.resumed_from) / max(self.seconds, 1e-9)


class StageError(VidcolorError):
    """The first failure of any stage; its message names the stage."""

    def __init__(self, stage: str, error: BaseException) -> None:
        detail = str(error) if isinstance(error, VidcolorError) else f"{type(error).__name__}: {error}"
        super().__init__(f"{stage} stage: {detail}")
        self.stage, self.error = stage, error


def _disk_full(error: StageError, state: WorkState) -> VidcolorError | None:
    """ENOSPC from any stage: say it plainly, and that the finished chunks wait for --resume."""
    cause = error.error
    if not (isinstance(cause, OSError) and cause.errno == errno.ENOSPC):
        return None
    return VidcolorError(
        f"{state.dir}: no space left on the device ({error.stage} stage); the {state.frames_done} frames finished "
        "are kept: free some space and run the same command with --resume"
    )


class Waits:
    """Seconds each stage spent blocked, by "stage: on what" (where a run waits tells which stage bounds it: the
    stage that never waits for its input while the others wait for it). Each key is written by one thread."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def since(self, key: str, t0: float) -> None:
        self.seconds[key] += time.perf_counter() - t0


def _put(q: queue.Queue, item, stop: threading.Event, waits: Waits, key: str) -> bool:
    t0 = time.perf_counter()
    try:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
    finally:
        waits.since(key, t0)


def _get(q: queue.Queue, stop: threading.Event, waits: Waits, key: str):
    t0 = time.perf_counter()
    try:
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return END
    finally:
        waits.since(key, t0)


class VideoJob:
    def __init__(
        self,
        source: Path,
        output: Path,
        plan: ReferencePlan,
        predictor_factory: Callable[[], Predictor],
        options: RunOptions,
        on_progress: Callable[[int, int], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.source, self.output, self.plan, self.options = source, output, run_plan(plan, options), options
        self.emit_end: int | None = None  # one past the last frame this job hands on (a shard's end)
        self.make_predictor = predictor_factory
        self.on_progress = on_progress
        self.warnings: list[str] = []
        self._warn_to = on_warning
        self.stop = threading.Event()
        self.errors: list[StageError] = []
        self.encoded = 0
        self.waits = Waits()
        self.decoder: DecodeStage | None = None
        self.model: ModelStage | None = None

    def on_warning(self, message: str) -> None:
        self.warnings.append(message)
        if self._warn_to:
            self._warn_to(message)

    # ------------------------------------------------------------------ stages
    def _stage(self, name: str, fn, *args) -> threading.Thread:
        def target():
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - surfaced by the supervisor
                self.errors.append(StageError(name, exc))
                self.stop.set()

        return threading.Thread(target=target, name=f"vidcolor-{name}", daemon=True)

    def _decode(self, out_q: queue.Queue, skip: int) -> None:
        first = self.plan.lead(skip)  # a held stretch is coloured from its start (model_stage.py)
        with contextlib.closing(self.decoder.frames(self.stop)) as frames:
            for item in frames:
                if item[0] >= first and not _put(out_q, item, self.stop, self.waits, "decoder: output"):
                    return
        _put(out_q, END, self.stop, self.waits, "decoder: output")

    def _model(self, in_q: queue.Queue, out_q: queue.Queue) -> None:
        def frames():
            while (item := _get(in_q, self.stop, self.waits, "model: input")) is not END:
                yield item

        def put(item) -> bool:
            return _put(out_q, item, self.stop, self.waits, "model: output")

        if self.model.run(frames(), put):
            put(END)

    def _encode(self, in_q: queue.Queue, state: WorkState, info: VideoInfo, first: int) -> None:
        def record(name: str, frames: int) -> None:
            nonlocal first
            state.add(name, first, frames)
            first += frames

        shot = None
        with EncoderProcess(state.dir, info, self.encode, self.fmt, len(state.chunks), record) as writer:
            # a chunk ends every chunk_frames frames and at each cut, so a sharded run cuts its chunks alike
            while (item := _get(in_q, self.stop, self.waits, "encoder: input")) is not END:
                _index, pts, luma, chroma, number = item
                if writer.frames and number != shot:
                    writer.close_chunk()
                shot = number
                writer.write(pts, luma, chroma)
                self.encoded += 1
                if writer.frames >= self.options.chunk_frames:
                    writer.close_chunk()
            if self.stop.is_set():
                writer.abort()
                return
            writer.finish()
        self.waits.seconds |= {
            "encoder: a free slot": writer.waited,  # the encoder process busy with earlier frames
            "encoder process: idle": writer.child_idle,  # waiting for frames
            "encoder process: busy": writer.child_busy,
        }

    # ------------------------------------------------------------------ supervisor
    def run(self) -> Summary:
        fmt = output_format(self.output)
        self._prepare()
        self.stream_plans = check_or_fail(self.source, fmt, self.decoder.window_seconds)  # audio checked up front
        state = WorkState(work_dir_for(self.output), self.fingerprint)
        state.open(self.options.resume, self.options.fresh)
        try:
            skip = state.frames_done
            seconds = self._stream(state, self.decoder.first + skip)
            chunks = [state.dir / c["file"] for c in state.chunks]
            notes = finish_output(chunks, self.info, self.output, fmt, self.stream_plans, state.dir, self.source,
                                  self.decoder.window_seconds)  # fmt: skip
        except BaseException:
            state.discard_if_empty()
            raise
        encoder = f"{self.encoder_note}, {self.fmt.pix_fmt}"
        early = self.decoder.stopped_early
        return Summary(state.frames_done, seconds, skip, early, notes, encoder, dict(self.waits.seconds))

    def _prepare(self, frames: FrameRange | None = None) -> None:
        """Probe, choose the encoder and the planar format, build the decoder (over ``frames`` when given)."""
        self.info = probe(self.source)
        self.encode, self.encoder_note = resolve_codec(self.options.encode)
        self.fmt: PlanarFormat = plan_planar(self.info, self.encode.codec)
        self.decoder = DecodeStage(self.source, self.info, self.fmt, self.plan, frames, self.options.window)
        self.fingerprint = run_fingerprint(self.source, self.plan, self.encode, self.options.window,
                                           self.options.propagate)  # fmt: skip

    def _stream(self, state: WorkState, skip: int) -> float:
        """Decode from frame ``skip`` on, colour and encode into ``state``'s chunks; returns the seconds it took."""
        from vidcolor.stream.model_stage import ModelStage  # imports torch: only now, every argument checked

        window = self.options.window
        self.model = ModelStage(self.make_predictor(), self.plan, self.fmt, self.options.batch, self.on_warning,
                                self.options.chunk_frames, self.options.propagate,
                                (skip, self.emit_end if self.emit_end is not None else window and window.end),
                                state.dir)  # fmt: skip
        self.model.alive = lambda: not self.stop.is_set()  # a held stretch stops with the run, not at its end
        return self._run_stages(state, skip)

    def _run_stages(self, state: WorkState, skip: int) -> float:
        info = self.info
        t0 = time.perf_counter()
        q_frames: queue.Queue = queue.Queue(maxsize=2 * self.options.batch)
        q_colour: queue.Queue = queue.Queue(maxsize=2 * self.options.batch)
        threads = [
            self._stage("decoder", self._decode, q_frames, skip),
            self._stage("model", self._model, q_frames, q_colour),
            self._stage("encoder", self._encode, q_colour, state, info, skip),
        ]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.25)
                if self.on_progress:
                    self.on_progress(skip - self.decoder.first + self.encoded, self.decoder.total)
        except KeyboardInterrupt:
            self.stop.set()
            for t in threads:
                t.join(timeout=5)
            raise
        if self.errors:
            raise _disk_full(self.errors[0], state) or self.errors[0]
        return time.perf_counter() - t0


def finish_output(
    chunks: list[Path], info: VideoInfo, output: Path, fmt: str, plans, work_dir: Path, source: Path, span=None
) -> list[str]:
    """Mux the chunks with the source's other streams into a temporary file, rename it to ``output``, remove the
    work folder. Returns the notes on the other streams. ``span``: a preview's (start, end) seconds (io.assemble)."""
    if not chunks:
        raise VidcolorError(f"{source}: no frame could be decoded")
    tmp = output.parent / f".{output.stem}.partial{output.suffix}"
    try:
        notes = assemble(chunks, info, tmp, fmt, plans, span)
        os.replace(tmp, output)
    except av.error.ExitError:
        raise KeyboardInterrupt from None  # Ctrl-C / SIGTERM while muxing: FFmpeg's interrupt callback saw it
    except (OSError, av.error.FFmpegError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        raise VidcolorError(
            f"{output}: writing the final file failed ({detail}); the colourised chunks are kept in "
            f"{work_dir}: fix the cause and run again with --resume"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    shutil.rmtree(work_dir, ignore_errors=True)
    return notes
