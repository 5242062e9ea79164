"""The review page: one HTML file (page.html, shipped with the package) with its data inlined as JSON; no server,
no network: inline CSS and JS, images as data URIs. The page writes the edited shot file itself (a download)."""

from __future__ import annotations

import json
import os
from importlib import resources

from vidcolor.io.atomic import write_text_atomic

PLACEHOLDER = "__VIDCOLOR_REVIEW_DATA__"


def render(data: dict) -> str:
    """The page with ``data`` inlined (``</`` escaped so that no string can close the script element)."""
    template = resources.files("vidcolor.review").joinpath("page.html").read_text(encoding="utf-8")
    payload = json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")
    return template.replace(PLACEHOLDER, payload)


def write_page(path: str | os.PathLike, data: dict) -> None:
    write_text_atomic(path, render(data))
