"""Re-encode the shared 256 px training zips (JPEG quality 80) into a folder small enough to travel with a device
call (training/gpu_matcher.sh): 48 MB -> 29 MB, same member names, so the same held-out split.

    python training/pack_zips.py .gpudata
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from PIL import Image

SHARED = Path(__file__).resolve().parent.parent.parent / "shared/data/train"


def main(out: str, names=("bsds500-256px.zip", "imagenet-sample-256px.zip"), quality: int = 80) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    for name in names:
        with zipfile.ZipFile(SHARED / name) as src, zipfile.ZipFile(Path(out) / name, "w") as dst:
            for info in src.infolist():
                if info.is_dir():
                    continue
                buf = io.BytesIO()
                Image.open(io.BytesIO(src.read(info))).convert("RGB").save(buf, "JPEG", quality=quality)
                dst.writestr(info.filename, buf.getvalue())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".gpudata")
