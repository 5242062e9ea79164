"""The encoder of `vidcolor run` in a process of its own (torch-free): planes in through shared memory, chunks out.

Why a process: the encoder is driven from Python once per frame (frame, encode, mux), and each time it comes back
from FFmpeg it must take the interpreter's lock again, which the model thread holds while it launches kernels. On
a lent H200 the whole run reached 55-67 % of decode + encode alone at 1080p with the encoder as a thread. A process
has its own lock (and its own heap for the codec's buffers).

Frames cross in a ring of frame-sized slots of shared memory (io/frame_ring.py, mapped on both sides): the parent
copies a frame's planes into a free slot and sends the slot's number; the child copies them into the encoder's
frame, hands the slot back at once and encodes. Commands and replies are
pickled tuples on the child's stdin and stdout (its stdout proper goes to stderr, so nothing stray can break the
protocol). Replies: ("free", slot), ("chunk", file name, frames) once a chunk file is complete, ("error", ...)
before the child ends on a failure, ("done", seconds idle, seconds busy) when it ends. The child ignores Ctrl-C
(the parent decides: it sends "abort", or its end closes the pipe, which aborts too) and never leaves a partial
chunk behind.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vidcolor.errors import VidcolorError
from vidcolor.io.encode import ChunkWriter, EncodeSettings
from vidcolor.io.frame_ring import RING_BYTES, FrameRing, attach, slot_planes
from vidcolor.io.media import VideoInfo
from vidcolor.io.yuv import PlanarFormat, planar_frame

ABORT_SECONDS = 3.0  # an abort waits this long for the child to drop its chunk (Ctrl-C waits 5 s for each stage)


def error_reply(exc: BaseException) -> tuple:
    """A child's failure as a picklable reply that ``raise_reply`` turns back into the same kind of error."""
    if isinstance(exc, VidcolorError):
        return ("error", "vidcolor", str(exc))
    if isinstance(exc, OSError) and exc.errno is not None:
        return ("error", "os", exc.errno, exc.strerror or str(exc), exc.filename)
    return ("error", "other", f"{type(exc).__name__}: {exc}")


def raise_reply(reply: tuple) -> None:
    """Raise the error an ``error_reply`` describes: an OSError keeps its errno (a full disk stays recognisable)."""
    kind = reply[1]
    if kind == "vidcolor":
        raise VidcolorError(reply[2])
    if kind == "os":
        raise OSError(*reply[2:5]) if reply[4] is not None else OSError(reply[2], reply[3])
    raise RuntimeError(reply[2])


def _child_env() -> dict[str, str]:
    """The environment with this process's own vidcolor first on the child's path (whatever folder it runs in)."""
    home = str(Path(__file__).resolve().parents[2])  # the folder holding this vidcolor package
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": home + (os.pathsep + path if path else "")}


def _start_child(ring: FrameRing) -> subprocess.Popen:
    """The child process, its stdin and stdout piped, the ring's descriptor inherited where it has no name."""
    # Ctrl-C and the terminal's other signals go to the parent only: it decides (a new session / group)
    alone = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {"start_new_session": True}
    return subprocess.Popen(
        [sys.executable, "-P", "-c", CHILD],  # -P: not the working folder's vidcolor
        env=_child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        pass_fds=() if ring.path else (ring.fd,),
        close_fds=True,
        **alone,
    )


class EncoderProcess:
    """ChunkWriter's work (io/encode.py) in a child process. ``on_chunk(file name, frames)`` is called, in the
    caller's thread and in order, for each chunk the child has finished. Use as a context manager: leaving it on
    an exception aborts (the current chunk is dropped, finished ones are still reported)."""

    def __init__(
        self,
        work_dir: Path,
        info: VideoInfo,
        settings: EncodeSettings,
        fmt: PlanarFormat,
        first_chunk: int = 0,
        on_chunk: Callable[[str, int], None] | None = None,
        ring_bytes: int = RING_BYTES,
    ) -> None:
        self.on_chunk = on_chunk
        self.frames = 0  # frames sent into the current chunk
        self.waited = 0.0  # seconds ``write`` waited for a free slot (the child busy with earlier frames)
        self.child_idle = self.child_busy = 0.0  # the child's seconds waiting for commands and working (at the end)
        self.ring = FrameRing(fmt, ring_bytes)
        self._done = False
        self._work_dir = Path(work_dir)
        try:
            self._proc = _start_child(self.ring)
        except OSError as exc:
            self.ring.close()
            raise VidcolorError(f"cannot start the encoder process ({exc.strerror or exc})") from None
        try:
            self._send(("setup", str(work_dir), info, settings, fmt, first_chunk, self.ring.slots, self.ring.where))
            self._expect("ready")
        except BaseException:
            self._done = True
            self._stop_child()
            self.close()
            raise
        self.ring.forget_name()  # both sides have it mapped (POSIX keeps the memory)

    # ------------------------------------------------------------------ protocol
    def _send(self, message: tuple) -> None:
        try:
            pickle.dump(message, self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except OSError:  # the child ended (EPIPE; EINVAL on Windows): its replies up to the last say why
            while True:
                self._reply()  # raises the child's error, or that it ended, once the replies run out

    def _reply(self) -> tuple:
        """The child's next reply: a freed slot is taken back, a chunk report goes to ``on_chunk``, an error is
        raised."""
        try:
            reply = pickle.load(self._proc.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            raise self._ended() from None
        if reply[0] == "error":
            self._done = True
            raise_reply(reply)
        if reply[0] == "free":
            self.ring.free.append(reply[1])
        elif reply[0] == "chunk" and self.on_chunk:
            self.on_chunk(reply[1], reply[2])
        return reply

    def _expect(self, kind: str) -> tuple:
        while (reply := self._reply())[0] != kind:
            pass
        return reply

    def _ended(self) -> VidcolorError:
        self._done = True
        code = self._stop_child()
        return VidcolorError(f"the encoder process ended unexpectedly (exit status {code})")

    def _stop_child(self, seconds: float = 10) -> int:
        """Close its commands (a live child aborts on that), wait up to ``seconds``, then kill it; its exit status.
        A chunk it was writing is removed."""
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        try:
            code = self._proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        for partial in self._work_dir.glob(".chunk-*.mp4.tmp"):  # only a killed child leaves one
            partial.unlink(missing_ok=True)
        return code

    # ------------------------------------------------------------------ ChunkWriter's interface
    def write(self, pts: int, luma: np.ndarray, chroma: np.ndarray) -> None:
        """luma (H, W) and chroma (2, h, w) codes of the planar format; copied into a slot before it returns."""
        if not self.ring.free:
            t0 = time.perf_counter()
            while not self.ring.free:
                self._expect("free")
            self.waited += time.perf_counter() - t0
        try:
            slot = self.ring.put(luma, chroma)
        except ValueError as exc:
            raise VidcolorError(f"internal: {exc}") from None
        self._send(("frame", slot, pts))
        self.frames += 1

    def close_chunk(self) -> None:
        """Finish the current chunk; the child reports it through ``on_chunk`` when its file is complete."""
        if self.frames:
            self._send(("close",))
            self.frames = 0

    def finish(self) -> None:
        """Close the last chunk, wait until every chunk is reported, end the child."""
        self.close_chunk()
        self._send(("end",))
        _, self.child_idle, self.child_busy = self._expect("done")
        self._done = True
        self._proc.wait()

    def abort(self, seconds: float = ABORT_SECONDS) -> None:
        """Drop the current chunk; chunks the child finishes meanwhile are still reported. A child still busy
        after ``seconds`` (frames queued before the abort, a slow preset) is killed: chunks it finished unreported
        are made again on resume. Never raises."""
        if not self._done:
            self._done = True
            timer = threading.Timer(seconds, self._proc.kill)
            timer.start()
            try:
                self._send(("abort",))
                while self._reply()[0] != "done":
                    pass
            except (VidcolorError, OSError, RuntimeError):
                pass
            finally:
                timer.cancel()
        self._stop_child()

    def close(self) -> None:
        for pipe in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        self.ring.close()

    def __enter__(self) -> EncoderProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is not None or not self._done:
                self.abort()
        finally:
            self.close()


# ---------------------------------------------------------------------- the child
def serve(commands, replies) -> None:
    """The child's loop: commands from ``commands``, replies to ``replies`` (binary files)."""

    def reply(message: tuple) -> None:
        pickle.dump(message, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()

    writer, idle, t0 = None, 0.0, time.perf_counter()
    try:
        _, work_dir, info, settings, fmt, first_chunk, slots, where = pickle.load(commands)
        ring = attach(where, slots, fmt)
        writer = ChunkWriter(Path(work_dir), info, settings, fmt, first_chunk)
        reply(("ready",))
        t0 = time.perf_counter()
        while True:
            waiting = time.perf_counter()
            try:
                command = pickle.load(commands)
            except EOFError:  # the parent is gone
                command = ("abort",)
            idle += time.perf_counter() - waiting
            if command[0] == "frame":
                _, slot, pts = command
                frame = planar_frame(*slot_planes(ring, slot, fmt), fmt)  # a copy: the slot is free again
                reply(("free", slot))
                writer.write_frame(pts, frame)
            elif command[0] == "close":
                done = writer.close_chunk()
                if done:
                    reply(("chunk", *done))
            elif command[0] == "end":
                done = writer.close_chunk()
                if done:
                    reply(("chunk", *done))
                reply(("done", idle, time.perf_counter() - t0 - idle))
                return
            else:  # abort
                writer.abort()
                reply(("done", idle, time.perf_counter() - t0 - idle))
                return
    except BaseException as exc:  # noqa: BLE001 - told to the parent, which raises it in its encoder stage
        if writer is not None:
            writer.abort()
        try:
            reply(error_reply(exc))
        except OSError:
            pass


def main(reply_fd: int) -> None:
    """The child (started as ``CHILD``): replies on ``reply_fd``, its stdout proper already sent to stderr."""
    from vidcolor.host_memory import keep_large_allocations

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    keep_large_allocations()
    serve(sys.stdin.buffer, os.fdopen(reply_fd, "wb"))


# The child's program: stdout moved aside for the replies before anything is imported (nothing printed on the way,
# by an import or a library, can reach the parent as a reply), then the loop.
CHILD = (
    "import os, sys; replies = os.dup(1); os.dup2(2, 1); from vidcolor.io.encoder_process import main; main(replies)"
)
