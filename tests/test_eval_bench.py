import json

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import colour_image

from vidcolor.cli.commands import cli
from vidcolor.evaluate.runner import METHODS
from vidcolor.evaluate.stream_bench import synthetic_clip


@pytest.fixture
def colour_video(tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            img = np.roll(colour_image(48, 64, seed=1), 2 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_eval_baselines_need_no_weights(tmp_path, colour_video, monkeypatch):
    monkeypatch.setenv("VIDCOLOR_WEIGHTS", str(tmp_path / "none"))
    monkeypatch.delenv("VIDCOLOR_TEST_RANDOM_WEIGHTS", raising=False)
    res = CliRunner().invoke(cli, ["eval", str(colour_video), "--json", str(tmp_path / "e.json"), "--size", "64"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "e.json").read_text())
    assert set(data["mean"]) == {"gray", "reinhard", "ground truth"}
    assert data["mean"]["ground truth"]["cdc"] > 0 and "psnr" not in data["mean"]["ground truth"]
    assert set(data["missing"]) == set(METHODS) - {"gray", "reinhard"}
    seq = data["sequences"]["clip"]
    assert seq["frames"] == 4
    assert seq["methods"]["gray"]["colorfulness"] < 1.0
    assert seq["methods"]["reinhard"]["psnr"] > seq["methods"]["gray"]["psnr"]  # a colourful clip
    assert "exemplar" in res.output and "missing" in res.output


def test_eval_all_methods_and_sheet(tmp_path, colour_video, vgg_path, random_weights):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        from PIL import Image

        Image.fromarray(colour_image(40 + 8 * i, 56, seed=i)).save(folder / f"{i}.png")
    res = CliRunner().invoke(
        cli,
        [
            "eval",
            str(colour_video),
            str(folder),
            "--size",
            "64",
            "--vgg",
            str(vgg_path),
            "--json",
            str(tmp_path / "e.json"),
            "--sheet",
            str(tmp_path / "s.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "e.json").read_text())
    expected = ["gray", "reinhard", "auto", "transfer", "paper", "match", "exemplar", "exemplar_yuv", "propagated"]
    # random weights: no learned matcher
    assert list(data["mean"]) == [*expected, "keyframes", "oracle", "ground truth"]
    assert set(data["missing"]) == {"match-frozen", "exemplar-frozen", "oracle-match"}
    assert data["sequences"]["clip"]["frames"] == 4  # every frame but the reference, by default
    assert "cdc" not in data["sequences"]["photos"]["methods"]["gray"]
    assert "warp_error" in data["sequences"]["clip"]["methods"]["exemplar"]
    photos = data["sequences"]["photos"]["methods"]
    assert photos["propagated"] == photos["exemplar"]  # unrelated photos: nothing to carry
    assert photos["keyframes"] == photos["exemplar_yuv"]  # nor any keyframe to colour from
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_eval_methods_option(tmp_path, colour_video, vgg_path, random_weights):
    args = ["eval", str(colour_video), "--size", "64", "--vgg", str(vgg_path), "--json", str(tmp_path / "e.json")]
    res = CliRunner().invoke(cli, [*args, "--methods", "gray,exemplar,propagated", "--max-frames", "2"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "e.json").read_text())
    assert list(data["mean"]) == ["gray", "exemplar", "propagated", "ground truth"]
    assert data["sequences"]["clip"]["frames"] == 2
    res = CliRunner().invoke(cli, [*args, "--methods", "gray,magic"])
    assert res.exit_code == 1 and "magic" in res.output


def test_eval_first_last_protocol_scores_the_frames_between(tmp_path, colour_video, vgg_path, random_weights):
    args = ["eval", str(colour_video), "--size", "64", "--vgg", str(vgg_path), "--json", str(tmp_path / "e.json")]
    res = CliRunner().invoke(cli, [*args, "--methods", "gray,exemplar_yuv,keyframes", "--protocol", "first-last"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "e.json").read_text())
    assert data["sequences"]["clip"]["frames"] == 3 and data["settings"]["protocol"] == "first-last"  # 5 - 2 refs
    figures = data["sequences"]["clip"]["methods"]
    assert figures["keyframes"]["psnr"] != figures["exemplar_yuv"]["psnr"]  # the last frame colours the rest too
    res = CliRunner().invoke(cli, [*args, "--protocol", "first-last", "--ref-frame", "1"])
    assert res.exit_code == 1 and "first and last frames" in res.output


def test_eval_rejects_gray_ground_truth(tmp_path, images):
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "a.png").write_bytes(images["gray"].read_bytes())
    (folder / "b.png").write_bytes(images["gray"].read_bytes())
    res = CliRunner().invoke(cli, ["eval", str(folder), "--baselines-only"])
    assert res.exit_code == 1 and "grayscale" in res.output


def test_bench_json(tmp_path, random_weights, vgg_path):
    clip = synthetic_clip(tmp_path / "c.mp4", 64, 48, 6)
    res = CliRunner().invoke(
        cli,
        [
            "bench",
            "--sizes",
            "64",
            "--batches",
            "1,2",
            "--repeats",
            "1",
            "--clip",
            str(clip),
            "--clip-frames",
            "6",
            "--stream-size",
            "64",
            "--json",
            str(tmp_path / "b.json"),
            "--vgg",
            str(vgg_path),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "b.json").read_text())
    dtypes = ["fp32", "fp16", "bf16"] if torch.cuda.is_available() else ["fp32", "bf16"]  # fp16: CUDA only
    assert [(r["dtype"], r["batch"]) for r in data["stages"]] == [(d, b) for d in dtypes for b in (1, 2)]
    assert all(v > 0 for r in data["stages"] for v in r["seconds_per_batch"].values())
    for row in data["stages"]:  # the networks' work and the rate it was done at, per stage
        assert set(row["gflops"]) == {"precolor", "ref_stats", "transfer", "match", "refine"}
        assert all(g > 0 for g in row["gflop_per_image"].values()) and all(r > 0 for r in row["gflops"].values())
    fp32 = {r["batch"]: r["gflop_per_image"]["match"] for r in data["stages"] if r["dtype"] == "fp32"}
    assert fp32[1] == pytest.approx(fp32[2], rel=1e-6)  # FLOPs per image do not depend on the batch
    assert data["streaming"]["frames"] == 6 and data["streaming"]["model_fps"] > 0
    assert data["streaming"]["end_to_end_fps"] > 0 and data["streaming"]["transcode_fps"] > 0
    assert data["streaming"]["end_to_end_vs_transcode"] > 0
    assert data["environment"]["torch"] and data["environment"]["av"]


def test_exemplar_yuv_alone_colours_from_the_reference(tmp_path, colour_video, vgg_path, random_weights):
    """Asked for with no other reference method, exemplar_yuv still gets the reference (it once scored the
    automatic colours then)."""
    args = ["eval", str(colour_video), "--size", "64", "--vgg", str(vgg_path), "--max-frames", "3"]
    figures = {}
    for methods in ("auto,exemplar_yuv", "exemplar,exemplar_yuv"):
        out = tmp_path / f"{methods}.json"
        res = CliRunner().invoke(cli, [*args, "--methods", methods, "--json", str(out)])
        assert res.exit_code == 0, res.output
        figures[methods] = json.loads(out.read_text())["mean"]
    alone, beside = figures["auto,exemplar_yuv"]["exemplar_yuv"], figures["exemplar,exemplar_yuv"]["exemplar_yuv"]
    assert alone["psnr"] == pytest.approx(beside["psnr"], abs=1e-9)
    assert alone["psnr"] != pytest.approx(figures["auto,exemplar_yuv"]["auto"]["psnr"], abs=1e-3)
