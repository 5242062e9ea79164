"""The work folder of a run (``.OUTPUT.vidcolor-work``): the chunks finished so far and what they were made from
(the run's fingerprint: source, references and their files, shots, encoder settings), so that ``--resume`` goes on
only with chunks that match the run it continues. JSON, written atomically."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from vidcolor.errors import VidcolorError
from vidcolor.io.encode import EncodeSettings
from vidcolor.shots.refs import ReferencePlan

PROGRESS = "progress.json"


def work_dir_for(output: Path) -> Path:
    return output.parent / f".{output.name}.vidcolor-work"


class WorkState:
    """The work folder: completed chunks and the settings they were made with (JSON, written atomically)."""

    def __init__(self, directory: Path, fingerprint: dict) -> None:
        self.dir, self.fingerprint = directory, fingerprint
        self.chunks: list[dict] = []

    @property
    def frames_done(self) -> int:
        return sum(c["frames"] for c in self.chunks)

    def open(self, resume: bool, fresh: bool) -> None:
        path = self.dir / PROGRESS
        if path.is_file() and not fresh:
            try:
                saved = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise VidcolorError(f"{path}: unreadable ({exc}); use --fresh to start over") from None
            done = sum(c["frames"] for c in saved.get("chunks", []))
            if not resume:
                raise VidcolorError(
                    f"{self.dir}: an unfinished run of this output is here ({done} frames done): "
                    "add --resume to continue it, or --fresh to start over"
                )
            before = saved.get("fingerprint") or {}
            if not same_run(before, self.fingerprint):
                now = json.loads(json.dumps(self.fingerprint))
                what = sorted({CHANGED.get(k, k) for k in {*now, *before} if now.get(k) != before.get(k)})
                raise VidcolorError(f"{self.dir}: the unfinished run differs in its {', '.join(what) or 'settings'}"
                                    " (its chunks would not match this run); use --fresh to start over")  # fmt: skip
            self.chunks = [c for c in saved["chunks"] if (self.dir / c["file"]).is_file()]
            return
        try:
            if self.dir.exists():
                shutil.rmtree(self.dir)
            self.dir.mkdir(parents=True)
            self.save()
        except OSError as exc:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise VidcolorError(f"{self.dir}: cannot create the work folder ({exc.strerror or exc})") from None

    def discard_if_empty(self) -> None:
        """A run that failed before its first chunk leaves nothing behind (there is nothing to resume)."""
        if not self.chunks:
            shutil.rmtree(self.dir, ignore_errors=True)

    def add(self, name: str, first: int, frames: int) -> None:
        self.chunks.append({"file": name, "first": first, "frames": frames})
        self.save()

    def save(self) -> None:
        tmp = self.dir / f".{PROGRESS}.tmp"
        tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "chunks": self.chunks}, indent=1))
        os.replace(tmp, self.dir / PROGRESS)


# a fingerprint's key -> what a resumed run changed when it differs
CHANGED = {"source": "source", "size": "source", "mtime_ns": "source", "refs": "references", "starts": "shots",
           "ref_files": "reference files (changed since)", "encode": "encoder settings", "window": "preview window",
           "propagate": "propagation", "detector": "shot detection",
           "keyframes": "keyframes", "max_span": "keyframe span"}  # fmt: skip


def same_run(saved: dict, fingerprint: dict, ignore: tuple[str, ...] = ()) -> bool:
    """Whether a work folder's saved fingerprint is this run's (JSON-equal, ``ignore``d keys aside); one saved
    before reference files were stamped (no ``ref_files``) is judged without them."""
    now = json.loads(json.dumps(fingerprint))
    skip = {*ignore, *(() if "ref_files" in saved else ("ref_files",))}
    return {k: v for k, v in saved.items() if k not in skip} == {k: v for k, v in now.items() if k not in skip}


def run_fingerprint(
    source: Path, plan: ReferencePlan, encode: EncodeSettings, window=None, propagate: bool = True
) -> dict:
    """What a work folder's chunks were made from: a resumed run must match it."""
    return (
        ({"window": asdict(window)} if window else {})
        | ({} if propagate else {"propagate": False})
        | {
            "source": str(source.resolve()),
            "size": source.stat().st_size,
            "mtime_ns": source.stat().st_mtime_ns,
            "refs": [[str(p) for p in s.paths] for s in plan.segments] + [str(p) for p in plan.candidates],
            "ref_files": _file_stamps([*(p for s in plan.segments for p in s.paths), *plan.candidates]),
            "starts": [s.start for s in plan.segments],
            **(
                {"keyframes": [s.start for s in plan.segments if s.keyframe], "max_span": plan.max_span}
                if any(s.keyframe for s in plan.segments)
                else {}
            ),
            "detector": [plan.detector, plan.threshold],
            "encode": asdict(encode),
        }
    )


def _file_stamps(paths) -> dict[str, list[int]]:
    """Each file's size and modification time: a reference replaced under the same name is another run."""
    stamps = {}
    for p in paths:
        st = Path(p).stat()
        stamps[str(p)] = [st.st_size, st.st_mtime_ns]
    return stamps
