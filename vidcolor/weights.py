"""The one place that finds, downloads, converts and verifies weight files.

- VGG19 (Caffe ImageNet weights, conv1_1..conv4_1), never shipped with the project. Looked up in order:
  an explicit path (``--vgg``), the environment variable ``VIDCOLOR_VGG``, the user cache
  (``$VIDCOLOR_CACHE`` or ``$XDG_CACHE_HOME/vidcolor`` or ``~/.cache/vidcolor``). ``fetch_vgg`` downloads the
  public Keras release and converts it; ``import_vgg`` takes that .h5 or an already converted .pth.
- Project-trained weights: ``weights/*.safetensors`` listed in ``weights/manifest.json`` with sha256,
  architecture config and provenance. A file that does not match its manifest entry is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.request
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vidcolor.errors import VidcolorError, WeightsError
from vidcolor.io.atomic import write_atomic
from vidcolor.models.vgg import VGG_LAYERS

VGG_FILENAME = "vgg19-imagenet-caffe-conv4_1.pth"
# sha256 of the converted file as distributed on the project's machines, and of its tensor contents
# (float32 bytes in key order), which stays the same whatever torch version wrote the file.
VGG_FILE_SHA256 = "08c771baa9a92f516a6f8b3baa535fb570280fab40aea875982917d5a6c9a11d"
VGG_KERAS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
VGG_KERAS_MD5 = "253f8cb515780f3b799900260a226db6"
VGG_CONV_NAMES = tuple(layer[0] for layer in VGG_LAYERS if layer != "pool")

MANIFEST = "manifest.json"


def cache_dir() -> Path:
    if os.environ.get("VIDCOLOR_CACHE"):
        return Path(os.environ["VIDCOLOR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "vidcolor"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _vgg_help() -> str:
    return (
        "provide the VGG19 weights by one of: --vgg PATH; the environment variable VIDCOLOR_VGG=PATH; "
        f"`vidcolor weights fetch-vgg` (downloads the Keras release into {cache_dir()}); "
        "or offline `vidcolor weights import-vgg FILE` with vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 "
        f"(md5 {VGG_KERAS_MD5}) or a converted {VGG_FILENAME}"
    )


def resolve_vgg(explicit: str | os.PathLike | None = None) -> Path:
    """Path of the VGG19 file: explicit, then $VIDCOLOR_VGG, then the cache. Clear error if none exists."""
    for origin, value in (("--vgg", explicit), ("VIDCOLOR_VGG", os.environ.get("VIDCOLOR_VGG"))):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise WeightsError(f"{path}: VGG19 weights file not found (given by {origin}); {_vgg_help()}")
            return path
    cached = cache_dir() / VGG_FILENAME
    if cached.is_file():
        return cached
    raise WeightsError(f"VGG19 weights not found; {_vgg_help()}")


def _check_vgg_state(state: dict, path: Path) -> dict[str, torch.Tensor]:
    from vidcolor.models.vgg import CHANNELS  # shapes only

    c_in = {"conv1_1": 3}
    prev = 3
    for name in VGG_CONV_NAMES:
        c_in[name] = prev
        prev = CHANNELS[name]
    out = {}
    for name in VGG_CONV_NAMES:
        for part, shape in (("weight", (CHANNELS[name], c_in[name], 3, 3)), ("bias", (CHANNELS[name],))):
            key = f"{name}.{part}"
            if key not in state:
                raise WeightsError(f"{path}: not a VGG19 conv1_1..conv4_1 state dict (no {key})")
            t = state[key]
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                raise WeightsError(f"{path}: {key} has shape {tuple(getattr(t, 'shape', ()))}, expected {shape}")
            if not torch.isfinite(t).all():
                raise WeightsError(f"{path}: {key} holds NaN or infinite values")
            out[key] = t.float().contiguous()
    return out


def load_vgg_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read and check a converted VGG19 .pth (keys conv1_1.weight .. conv4_1.bias, OIHW float)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        raise WeightsError(f"{path}: cannot read VGG19 weights ({type(exc).__name__}); {_vgg_help()}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: not a state dict; {_vgg_help()}")
    return _check_vgg_state(state, path)


def convert_keras_h5(h5_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Keras VGG19 notop .h5 (HWIO kernels, layers block{b}_conv{c}) -> our OIHW state dict, no other change."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise WeightsError("reading a Keras .h5 file needs h5py: pip install h5py") from None
    h5_path = Path(h5_path)
    try:
        f = h5py.File(h5_path, "r")
    except OSError:
        raise WeightsError(f"{h5_path}: not a readable HDF5 (Keras .h5) file") from None
    state = {}
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in VGG_CONV_NAMES:
            block, conv = name[4], name[6]
            group_name = f"block{block}_conv{conv}"
            if group_name not in root:
                raise WeightsError(f"{h5_path}: no layer {group_name}; is this the Keras VGG19 notop file?")
            arrays = _datasets(root[group_name])
            kernel = next((a for a in arrays if a.ndim == 4), None)
            bias = next((a for a in arrays if a.ndim == 1), None)
            if kernel is None or bias is None:
                raise WeightsError(f"{h5_path}: layer {group_name} lacks a kernel or a bias")
            state[f"{name}.weight"] = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous().float()
            state[f"{name}.bias"] = torch.from_numpy(bias).float()
    return _check_vgg_state(state, h5_path)


def _datasets(group) -> list:
    """All arrays stored anywhere under an HDF5 group (Keras nests them one or two levels deep)."""
    found = []
    group.visititems(lambda _name, obj: found.append(obj[()]) if hasattr(obj, "shape") else None)
    return found


def _atomic_torch_save(state: dict, dest: Path) -> None:
    def save(tmp: str) -> None:
        torch.save(state, tmp)

    try:
        write_atomic(dest, save, make_folder=True)
    except VidcolorError as exc:
        raise WeightsError(str(exc)) from None


def import_vgg(src: str | os.PathLike, dest_dir: Path | None = None) -> Path:
    """Store a Keras .h5 (converted) or a converted .pth in the cache, checked. Returns the cached path."""
    src = Path(src)
    if not src.is_file():
        raise WeightsError(f"{src}: file not found")
    with open(src, "rb") as f:
        magic = f.read(8)
    state = convert_keras_h5(src) if magic.startswith(b"\x89HDF") else load_vgg_state(src)
    dest = (dest_dir or cache_dir()) / VGG_FILENAME
    _atomic_torch_save(state, dest)
    return dest


def fetch_vgg(url: str = VGG_KERAS_URL, dest_dir: Path | None = None) -> Path:
    """Download the public Keras VGG19 notop release, check its md5, convert it into the cache."""
    dest_dir = dest_dir or cache_dir()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".download-", suffix=".h5")
    except OSError as exc:
        raise WeightsError(f"{dest_dir}: cannot write the weights cache ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        md5 = hashlib.md5()
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    md5.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            raise WeightsError(f"{url}: download failed ({exc}); {_vgg_help()}") from None
        if md5.hexdigest() != VGG_KERAS_MD5:
            raise WeightsError(f"{url}: md5 {md5.hexdigest()} != expected {VGG_KERAS_MD5}; file not used")
        return import_vgg(tmp, dest_dir)
    finally:
        os.unlink(tmp)


# ---------------------------------------------------------------- project-trained weights


def weights_dir() -> Path:
    """``$VIDCOLOR_WEIGHTS`` or the project's ``weights/`` folder."""
    env = os.environ.get("VIDCOLOR_WEIGHTS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "weights"


def read_manifest(directory: Path | None = None) -> dict:
    path = (directory or weights_dir()) / MANIFEST
    if not path.is_file():
        return {"models": {}}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable manifest ({exc})") from None


def default_colorizer(device_type: str, directory: Path | None = None) -> str:
    """Manifest name of the colorizer to use on ``device_type`` ('cpu' or 'cuda'): the manifest's ``defaults``,
    else the first colorizer listed, else 'colorizer' (whose absence load_trained then explains)."""
    manifest = read_manifest(directory)
    chosen = manifest.get("defaults", {}).get(device_type)
    if chosen:
        return chosen
    names = [n for n, e in sorted(manifest.get("models", {}).items()) if e.get("kind") == "colorizer"]
    return names[0] if names else "colorizer"


def has_trained(name: str, directory: Path | None = None) -> bool:
    """Whether the manifest lists project-trained model ``name`` (its file is verified when loaded)."""
    return name in read_manifest(directory).get("models", {})


def load_trained(name: str, directory: Path | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """State dict (float32) and manifest entry of project-trained model ``name``, verified by sha256."""
    directory = directory or weights_dir()
    entry = read_manifest(directory).get("models", {}).get(name)
    if entry is None:
        raise WeightsError(
            f"no trained weights '{name}' in {directory / MANIFEST}: train them "
            f"(training/train_{'transfer' if name.startswith('decoder') else 'colorizer'}.py) "
            "or point VIDCOLOR_WEIGHTS at a folder that has them"
        )
    path = directory / entry["file"]
    if not path.is_file():
        raise WeightsError(f"{path}: listed in the manifest as '{name}' but missing (git checkout incomplete?)")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise WeightsError(f"{path}: sha256 {digest[:12]}... does not match the manifest ({entry['sha256'][:12]}...)")
    try:
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(f"{path}: unreadable safetensors ({exc})") from None
    return {k: v.float() for k, v in state.items()}, entry


def export_trained(name: str, state: dict[str, torch.Tensor], entry: dict, directory: Path | None = None) -> Path:
    """Write ``name``.safetensors (fp16) and its manifest entry (``entry`` + file + sha256), atomically."""
    directory = directory or weights_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.safetensors"
    half = {k: (v.half() if v.is_floating_point() else v).contiguous().cpu() for k, v in state.items()}
    tmp = path.with_name(f".tmp-{path.name}")
    save_file(half, str(tmp))
    os.replace(tmp, path)
    manifest = read_manifest(directory)
    manifest.setdefault("models", {})[name] = {**entry, "file": path.name, "sha256": sha256_file(path)}
    tmp_manifest = directory / f".tmp-{MANIFEST}"
    tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_manifest, directory / MANIFEST)
    return path
