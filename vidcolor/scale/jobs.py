"""Batch files: a list of films to colour, read and checked before any work starts. Torch-free, Ray-free.

    defaults:               # optional: every job takes these unless it sets its own
      preset: medium
    jobs:
      - source: reels/a.mp4
        output: out/a.mp4
        refs: refs/a.png      # an image or a folder, as `run --refs`; or
      - source: reels/b.mkv
        output: out/b.mkv
        shots: reels/b.shots.yaml
        crf: 20

Relative paths are relative to the batch file. Each problem is one line naming the file, the job and the problem:
a missing source, a job without an output, an output that is its own or another job's source, two jobs writing the
same output, an unknown key or a value of the wrong type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from vidcolor.chain.preflight import check_size
from vidcolor.errors import VidcolorError
from vidcolor.io.encode import EncodeSettings, output_format
from vidcolor.stream.pipeline import RunOptions

FAST = {"size": 128, "batch": 2, "preset": "veryfast"}  # as `run --fast`
OPTIONS = {  # key -> (type, default)
    "refs": (str, None),
    "shots": (str, None),
    "detector": (str, "luma"),
    "threshold": (float, None),
    "batch": (int, 4),
    "codec": (str, "libx264"),
    "crf": (int, 18),
    "preset": (str, "medium"),
    "chunk_frames": (int, 240),
    "size": (int, 256),
    "hints": (str, "match"),
    "fast": (bool, False),
    "propagate": (bool, True),
    "keyframe_span": (int, 300),
}
CHOICES = {"detector": ("luma", "scdet", "none"), "hints": ("match", "match-frozen", "transfer")}


@dataclass(frozen=True)
class JobEntry:
    number: int  # 1-based, as people count jobs in the file
    source: Path
    output: Path
    refs: str | None
    shots: str | None
    detector: str | None
    threshold: float | None
    options: RunOptions
    size: int
    hints: str


def _value(where: str, key: str, value):
    kind, _ = OPTIONS[key]
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise VidcolorError(f"{where}: '{key}' must be {kind.__name__}, not {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise VidcolorError(f"{where}: '{key}' must be one of {', '.join(CHOICES[key])}, not {value!r}")
    return value


def _settings(where: str, item: dict, defaults: dict) -> dict:
    unknown = sorted(set(item) - set(OPTIONS) - {"source", "output"})
    if unknown:
        raise VidcolorError(f"{where}: unknown key '{unknown[0]}' (known: source, output, {', '.join(OPTIONS)})")
    merged = {k: d for k, (_, d) in OPTIONS.items()} | defaults | {k: v for k, v in item.items() if k in OPTIONS}
    out = {k: _value(where, k, v) for k, v in merged.items()}
    if out["fast"]:
        out.update(FAST)
    if out["batch"] is not None and out["batch"] < 1 or out["chunk_frames"] is not None and out["chunk_frames"] < 1:
        raise VidcolorError(f"{where}: 'batch' and 'chunk_frames' must be at least 1")
    if out["keyframe_span"] is not None and out["keyframe_span"] < 0:
        raise VidcolorError(f"{where}: 'keyframe_span' must be at least 0")
    try:
        check_size(out["size"])
    except VidcolorError as exc:
        raise VidcolorError(f"{where}: {exc}") from None
    if out["refs"] and out["shots"]:
        raise VidcolorError(f"{where}: give 'shots' (references inside) or 'refs', not both")
    return out


def _path(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def read_jobs(path: str | Path) -> list[JobEntry]:
    """The batch file's jobs, every path resolved and checked (see the module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise VidcolorError(f"{path}: no such batch file")
    try:
        doc = yaml.safe_load(path.read_text(errors="replace"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise VidcolorError(f"{path}: not valid YAML{f' (line {line + 1})' if line is not None else ''}") from None
    except OSError as exc:
        raise VidcolorError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list) or not doc["jobs"]:
        raise VidcolorError(f"{path}: not a batch file (no 'jobs' list with at least one job)")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise VidcolorError(f"{path}: 'defaults' must be a mapping of options")
    bad = sorted(set(defaults) - set(OPTIONS))
    if bad:
        raise VidcolorError(f"{path}: defaults: unknown key '{bad[0]}'")
    _settings(f"{path}: defaults", defaults, {})
    base, jobs = path.parent, []
    for n, item in enumerate(doc["jobs"], start=1):
        where = f"{path}: job {n}"
        if not isinstance(item, dict):
            raise VidcolorError(f"{where}: must be a mapping with 'source' and 'output'")
        for key in ("source", "output"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise VidcolorError(f"{where}: needs '{key}' (a path)")
        source, output = _path(base, item["source"]), _path(base, item["output"])
        where = f"{path}: job {n} ({item['source']})"
        if not source.is_file():
            raise VidcolorError(f"{where}: source {source} not found")
        try:
            output_format(output)
        except VidcolorError as exc:
            raise VidcolorError(f"{where}: {exc}") from None
        if output.resolve() == source.resolve():
            raise VidcolorError(f"{where}: output {output} would overwrite the input")
        s = _settings(where, item, defaults)
        refs = str(_path(base, s["refs"])) if s["refs"] else None
        shots = str(_path(base, s["shots"])) if s["shots"] else None
        encode = EncodeSettings(s["codec"], s["crf"], s["preset"])
        options = RunOptions(s["batch"], s["chunk_frames"], encode, True, propagate=s["propagate"],
                             keyframe_span=s["keyframe_span"])  # fmt: skip
        detector = None if s["detector"] == "none" else s["detector"]
        jobs.append(JobEntry(n, source, output, refs, shots, detector, s["threshold"], options, s["size"], s["hints"]))
    _check_outputs(path, jobs)
    return jobs


def _check_outputs(path: Path, jobs: list[JobEntry]) -> None:
    """No two jobs write one file, and no job writes over another job's source."""
    outputs: dict[Path, JobEntry] = {}
    sources = {job.source.resolve(): job for job in jobs}
    for job in jobs:
        out = job.output.resolve()
        if out in outputs:
            raise VidcolorError(f"{path}: job {job.number}: output {job.output} is also job {outputs[out].number}'s")
        if out in sources:
            other = sources[out]
            raise VidcolorError(f"{path}: job {job.number}: output {job.output} is job {other.number}'s source")
        outputs[out] = job
