"""`vidcolor review`: the page opens in headless Chromium with one row per shot and its images decoded; a reference
is changed through the page's own controls, the page saves the shot file, and `run --shots` takes it.
`image --frame` colours one frame of a video as `run` does."""

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from media import luma_planes
from test_pipeline import FAST, ref, tiny_predictor  # noqa: F401 - fixture
from test_shots import CUTS, FRAMES, film, refs  # noqa: F401 - fixtures

from vidcolor.cli.commands import cli
from vidcolor.io.image import read_image
from vidcolor.io.media import probe
from vidcolor.review.build import build_review
from vidcolor.review.gather import gather
from vidcolor.shots.files import Shot, ShotFile, read_shot_file, write_yaml
from vidcolor.stream.pipeline import RunOptions
from vidcolor.stream.still import colorize_frame
from vidcolor.stream.timerange import parse_time
from vidcolor.stream.video import run_video

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven through Debian's chromedriver, downloads going to a folder of the test."""
    if not (CHROMIUM and DRIVER):
        pytest.skip("no chromium + chromedriver (Debian: apt-get install chromium chromium-driver; .ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    downloads = tmp_path_factory.mktemp("downloads")
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver, downloads
    driver.quit()


def open_page(driver, page: Path) -> list:
    """Load the page from disk; every <img> decoded (naturalWidth > 0). Returns the shot rows."""
    driver.get(page.as_uri())
    widths = driver.execute_script("return Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1)")
    assert widths and all(w > 0 for w in widths), widths
    return driver.find_elements("css selector", "tr.shot")


def wait_for(folder: Path, name: str, seconds: float = 10.0) -> Path:
    path = folder / name
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if path.is_file() and not list(folder.glob("*.crdownload")):
            return path
        time.sleep(0.05)
    raise AssertionError(f"{name} was not downloaded: {list(folder.iterdir())}")


def test_review_page_pick_save_and_run(tmp_path, film, refs, browser):  # noqa: F811
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, downloads = browser
    page = tmp_path / "review.html"
    data = build_review(str(film), str(page), tiny_predictor, refs=str(refs), sheet=str(tmp_path / "s.png"), quiet=True)
    assert [(s["start"], s["end"]) for s in data["shots"]] == [(0, CUTS[0]), (CUTS[0], CUTS[1]), (CUTS[1], FRAMES)]
    assert read_image(tmp_path / "s.png").shape[1] == 3 * 200  # the contact sheet: three columns
    rows = open_page(driver, page)
    assert len(rows) == 3
    assert len(driver.find_elements("css selector", "img.preview")) == 3
    assert len(rows[0].find_elements("css selector", "button.cand")) == 3  # every candidate, with its score

    names = [r["name"] for r in data["refs"]]
    before = [s["reference"] for s in data["shots"]]
    other = next(i for i in range(3) if [i] != before[1])
    Select(rows[1].find_element("css selector", "select.pick")).select_by_value(str(other))  # shot 2: another one
    assert "Preview made with" in rows[1].find_element("css selector", ".note").text
    rows[2].click()
    rows[2].send_keys("0")  # shot 3: the keyboard picks "none (automatic)"
    assert Select(rows[2].find_element("css selector", "select.pick")).first_selected_option.text.startswith("none")
    driver.find_element("tag name", "body").send_keys(Keys.HOME)
    driver.find_element("id", "save").click()
    saved = wait_for(downloads, "film.shots.yaml")

    shots = read_shot_file(saved, probe(film)).shots  # the fingerprint is checked against the film here
    assert Path(shots[1].reference[0]).name == names[other]
    assert shots[2].reference == []
    assert Path(shots[0].reference[0]).name == names[before[0][0]]
    summary = run_video(str(film), str(tmp_path / "out.mp4"), None, tiny_predictor, RunOptions(4, 240, FAST), True,
                        str(saved))  # fmt: skip
    assert summary.frames == FRAMES


def test_review_page_shows_keyframes_and_saves_them(tmp_path, browser):
    from test_keyframes import KEYS, panning_frames, write_clip, write_keys

    driver, downloads = browser
    frames = panning_frames()
    clip = write_clip(tmp_path / "pan.mp4", frames)
    keys = write_keys(tmp_path / "keys", frames)
    page = tmp_path / "review.html"
    data = build_review(str(clip), str(page), tiny_predictor, refs=str(keys), quiet=True)
    assert [k["frame"] for s in data["shots"] for k in s["keyframes"]] == list(KEYS)
    rows = open_page(driver, page)
    shown = [f.text for r in rows for f in r.find_elements("css selector", "figure.keyframe")]
    assert shown == [f"frame {k}" for k in KEYS]
    downloads.joinpath("pan.shots.yaml").unlink(missing_ok=True)
    driver.find_element("id", "save").click()
    shots = read_shot_file(wait_for(downloads, "pan.shots.yaml"), probe(clip)).shots
    assert {k: Path(v).name for s in shots for k, v in s.keyframes.items()} == {k: f"ref_{k:06d}.png" for k in KEYS}


def test_sample_review_page_opens(tmp_path, browser, vgg_path, random_weights):
    driver, _ = browser
    page = tmp_path / "sample.html"
    sample = ROOT / "samples"
    args = ["review", str(sample / "landscape-gray.mp4"), "--refs", str(sample / "landscape-ref.png"), "-o", str(page)]
    res = CliRunner().invoke(cli, [*args, "--size", "64", "--vgg", str(vgg_path)])
    assert res.exit_code == 0, res.output
    rows = open_page(driver, page)
    assert len(rows) == 1
    assert "landscape-ref.png" in rows[0].find_element("css selector", "select.pick").text


def test_review_from_a_shot_file_seeks_each_shot(tmp_path, film, refs):  # noqa: F811
    info = probe(film)
    data = ShotFile([Shot(0, 5, [str(refs / "sky.png")]), Shot(5, 19), Shot(19, FRAMES)], FRAMES, info.rate, film.name)
    write_yaml(tmp_path / "s.yaml", data)
    got = gather(str(film), str(tmp_path / "r.html"), shots=str(tmp_path / "s.yaml"))
    _, planes = luma_planes(film)
    assert all(np.array_equal(a, planes[i]) for a, i in zip(got.firsts, (0, 5, 19), strict=True))
    assert got.candidates == [(refs / "sky.png").resolve()]
    assert "seek" in got.seconds and "detect" not in got.seconds


def test_review_argument_errors(tmp_path, film, refs):  # noqa: F811
    for args, text in (
        (["-o", str(tmp_path / "r.txt")], "must end in .html"),
        (["-o", str(tmp_path / "r.html"), "--shots", str(tmp_path / "s.yaml"), "--refs", str(refs)], "not both"),
        (["-o", str(tmp_path / "nope" / "r.html")], "output folder does not exist"),
    ):
        res = CliRunner().invoke(cli, ["review", str(film), *args])
        assert res.exit_code == 1 and res.output.startswith("vidcolor: error:") and text in res.output, res.output


def test_image_frame_of_a_video(tmp_path, film, ref):  # noqa: F811
    out = tmp_path / "frame.png"
    colorize_frame(str(film), parse_time("10f", "--frame"), str(ref), str(out), tiny_predictor, quiet=True)
    rgb = read_image(out).astype(np.float32)
    _, planes = luma_planes(film)
    y = 16 + (rgb @ np.array([65.481, 128.553, 24.966]) / 255)  # BT.601 limited range, as the 64x48 output
    errors = [np.abs(y - p).mean() for p in planes]
    assert int(np.argmin(errors)) == 10 and errors[10] < 2.0  # the luma of frame 10, kept
    assert np.abs(rgb[..., 0] - rgb[..., 1]).max() > 0  # in colour


def test_review_shows_a_rotated_video_upright(tmp_path):
    import base64
    import io

    from media import make_video
    from PIL import Image

    src = make_video(tmp_path / "phone.mp4", frames=3, rotation=90)  # 64x48 stored, shown 48 wide
    data = build_review(str(src), str(tmp_path / "r.html"), tiny_predictor, sheet=str(tmp_path / "s.png"), quiet=True)
    shot = data["shots"][0]
    for key in ("gray", "preview"):
        png = base64.b64decode(shot[key].split(",", 1)[1])
        width, height = Image.open(io.BytesIO(png)).size
        assert height > width, key  # portrait, as players show it
