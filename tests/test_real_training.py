"""The real-motion training's parts: the feature store, the pair sampler, the validation split (issue 26)."""

import argparse
import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from training import build_store, train_real
from training.store import Fingerprint, Store, is_current, store_frames, vgg_hash
from vidcolor.models.vgg import VGGEncoder

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "data" / "eval"


def _frames(n: int, h: int = 40, w: int = 56) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def _vgg(seed: int = 0) -> VGGEncoder:
    torch.manual_seed(seed)
    return VGGEncoder().eval()


def _tiny_store(root, frames: int = 4, fine: bool = False) -> None:
    """A video store of three 64 x 64 sequences under ``root`` (car-turn is in the validation split)."""
    for name in ("bear", "boat", "car-turn"):
        fp = Fingerprint("x", 64, "", "fp32", fine=fine)
        store_frames(root / "video" / name, _frames(frames, 64, 64), (64, 64), _vgg(), fp)


def test_store_holds_descriptors_l_and_ab_at_working_size(tmp_path):
    vgg = _vgg()
    fp = Fingerprint(vgg_hash(vgg), 32, "1:2", "fp32")
    store = store_frames(tmp_path / "clip", _frames(3), (32, 48), vgg, fp, batch=2, source="clip.mp4")
    assert len(store) == 3
    assert store.desc.shape == (3, 768, 4, 6) and store.desc.dtype == np.float16
    assert store.l.shape == (3, 1, 32, 48) and store.ab.shape == (3, 2, 32, 48)
    norms = np.linalg.norm(store.desc[1].astype(np.float32), axis=0)
    assert np.allclose(norms, 1.0, atol=1e-2)  # unit descriptors
    frame = store.frame(2)
    assert frame["l"].dtype == torch.float32 and 0 <= frame["l"].min() and frame["l"].max() <= 100
    assert Store(tmp_path / "clip").meta["source"] == "clip.mp4"
    assert not list(tmp_path.glob(".tmp-*"))  # written under a temporary name, renamed


def test_store_is_rebuilt_when_the_weights_or_settings_change(tmp_path):
    vgg = _vgg()
    fp = Fingerprint(vgg_hash(vgg), 32, "1:2", "fp32")
    store_frames(tmp_path / "clip", _frames(2), (32, 48), vgg, fp)
    assert is_current(tmp_path / "clip", fp)
    assert not is_current(tmp_path / "clip", Fingerprint(vgg_hash(_vgg(1)), 32, "1:2", "fp32"))  # other VGG
    assert not is_current(tmp_path / "clip", Fingerprint(fp.vgg, 64, "1:2", "fp32"))  # other size
    assert not is_current(tmp_path / "clip", Fingerprint(fp.vgg, 32, "1:3", "fp32"))  # source file changed
    assert not is_current(tmp_path / "clip", Fingerprint(fp.vgg, 32, "1:2", "bf16"))  # other precision
    assert not is_current(tmp_path / "missing", fp)


def test_evaluation_material_is_refused():
    with pytest.raises(SystemExit, match="never trained on"):
        build_store.refuse_eval(EVAL / "davis" / "blackswan.mp4")
    with pytest.raises(SystemExit):
        build_store.refuse_eval("/somewhere/data/eval/davis/cows.mp4")
    build_store.refuse_eval(ROOT.parent / "shared" / "data" / "train" / "davis-train" / "bear.mp4")


class _Fake:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def _args(**kw):
    base = dict(batch=64, photo_share=0.0, distractor_share=0.3, empty_share=0.1, gap_power=0.5)
    return argparse.Namespace(**{**base, **kw})


def test_pairs_come_from_one_sequence_with_gaps_in_both_directions_and_are_deterministic():
    train = {"a": _Fake(30), "b": _Fake(12), "c": _Fake(50)}
    plan = train_real.sample_plan(7, 0, train, None, _args())
    assert plan == train_real.sample_plan(7, 0, train, None, _args())  # a pure function of (seed, step)
    assert plan != train_real.sample_plan(8, 0, train, None, _args())
    directions, distractors = set(), 0
    for step in range(40):
        plan = train_real.sample_plan(step, 0, train, None, _args(batch=4))
        assert len({(item["seq"], item["r"]) for item in plan}) == 1  # one reference frame per step
        for item in plan:
            n = len(train[item["seq"]])
            assert 0 <= item["r"] < n and 0 <= item["t"] < n and item["t"] != item["r"]
            directions.add(item["t"] > item["r"])
            if "distractor" in item:
                assert item["distractor"][0] != item["seq"]
                distractors += 1
    assert directions == {True, False} and distractors > 0


def test_long_gaps_are_favoured():
    rng = random.Random(0)
    gaps = [abs(train_real.sample_gap(41, 0, rng, 0.5)) for _ in range(4000)]
    short = sum(g <= 10 for g in gaps)
    long = sum(g > 30 for g in gaps)
    assert long > 1.3 * short  # uniform would give equal counts


def test_validation_sequences_are_never_sampled(tmp_path):
    for name in ("bear", "car-turn", "motorbike", "boat"):
        vgg = _vgg()
        store_frames(tmp_path / "video" / name, _frames(3), (32, 48), vgg, Fingerprint("x", 32, "", "fp32"))
    train, val, photos = train_real.open_stores(tmp_path)
    assert set(train) == {"bear", "boat"} and set(val) == {"car-turn", "motorbike"} and photos is None
    for step in range(20):
        for item in train_real.sample_plan(step, 0, train, None, _args(batch=8)):
            assert item["seq"] in train and item.get("distractor", ("bear",))[0] in train


def test_store_with_evaluation_material_is_refused(tmp_path):
    store_frames(tmp_path / "video" / "x", _frames(2), (32, 48), _vgg(), Fingerprint("x", 32, "", "fp32"),
                 source=str(EVAL / "davis" / "cows.mp4"))  # fmt: skip
    with pytest.raises(SystemExit, match="evaluation material"):
        train_real.open_stores(tmp_path)


def test_a_training_step_from_the_store_moves_the_head_and_the_refiner(tmp_path):
    from vidcolor.config import ColorizerConfig, MatcherConfig
    from vidcolor.models import ColorizerNet
    from vidcolor.models.matcher import MatcherHead

    for name in ("bear", "boat"):
        store_frames(tmp_path / "video" / name, _frames(3, 64, 64), (64, 64), _vgg(), Fingerprint("x", 64, "", "fp32"))
    train, val, _ = train_real.open_stores(tmp_path)
    cfg = MatcherConfig(hidden=8, blocks=1, block_hidden=8)
    head, refiner = MatcherHead(cfg), ColorizerNet(ColorizerConfig(width=8))
    torch.nn.init.normal_(head.blocks[0][4].weight, std=0.01)
    before = [p.detach().clone() for p in (head.blocks[0][0].weight, refiner.out.weight)]
    args = _args(batch=2, hidden_weight=0.25, gray_penalty=0.5)
    import contextlib

    plan = train_real.sample_plan(0, 0, train, None, args)
    losses = train_real.train_step(head, refiner, plan, train, None, args, cfg, contextlib.nullcontext, crop=(4, 4))
    assert torch.isfinite(losses["loss"])
    opt = torch.optim.Adam([*head.parameters(), *refiner.parameters()], lr=1e-2)
    losses["loss"].backward()
    opt.step()
    after = (head.blocks[0][0].weight, refiner.out.weight)
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_the_unet_continues_from_the_store_and_exports_with_its_provenance(tmp_path, monkeypatch):
    import json

    from training import train_colorizer_real
    from vidcolor import weights

    monkeypatch.delenv("VIDCOLOR_WEIGHTS", raising=False)
    if not weights.has_trained(train_colorizer_real.SOURCE):
        pytest.skip("no committed U-Net to continue")
    _tiny_store(tmp_path)
    out, folder = tmp_path / "run", tmp_path / "weights"
    common = ["--store", str(tmp_path), "--out", str(out), "--batch", "2"]
    export = ["--lr", "1e-3", "--export", "colorizer-small", "--weights-dir", str(folder)]
    result = train_colorizer_real.main([*common, "--steps", "2", *export])
    assert result["steps"] == 2 and result["gray"] < 100
    entry = json.loads((folder / "manifest.json").read_text())["models"]["colorizer-small"]
    continued = entry["training"]["continued"]
    assert continued["steps"] == 2 and "CC BY-NC 4.0" in continued["data"][0] and "car-turn" in continued["data"][0]
    trained, _ = weights.load_trained("colorizer-small", folder)
    source, _ = weights.load_trained("colorizer-small")
    assert any(not torch.equal(trained[k], source[k]) for k in source)  # it moved
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [0, 1, 2]
    resumed = train_colorizer_real.main([*common, "--steps", "3", "--resume"])
    assert resumed["steps"] == 3


def test_store_keeps_sub_cell_descriptors_for_the_placement_and_older_stores_stay_current(tmp_path):
    vgg = _vgg()
    plain = Fingerprint(vgg_hash(vgg), 32, "1:2", "fp32")
    store = store_frames(tmp_path / "fine", _frames(3), (32, 48), vgg, dataclasses.replace(plain, fine=True))
    assert store.fine.shape == (3, 256, 8, 12) and store.fine.dtype == np.float16
    assert np.allclose(np.linalg.norm(store.fine[0].astype(np.float32), axis=0), 1.0, atol=1e-2)
    assert store.frame(1, fine=True)["fine"].shape == (256, 8, 12) and "fine" not in store.frame(1)
    assert not is_current(tmp_path / "fine", plain)  # a store without them is rebuilt, and the other way round
    store_frames(tmp_path / "plain", _frames(2), (32, 48), vgg, plain)
    assert "fine" not in Store(tmp_path / "plain").meta["fingerprint"] and Store(tmp_path / "plain").fine is None


def test_the_placement_trains_from_the_store_only_on_training_sequences_and_exports(tmp_path, monkeypatch):
    import json

    from training import train_placement
    from vidcolor import weights

    monkeypatch.delenv("VIDCOLOR_WEIGHTS", raising=False)
    if not weights.has_trained("matcher"):
        pytest.skip("no committed matcher head")
    _tiny_store(tmp_path, frames=5, fine=True)
    train, val, _ = train_real.open_stores(tmp_path)
    args = train_placement.parse_args(["--batch", "3"])
    for step in range(10):
        name, r, ts = train_placement.sample_plan(step, 0, train, args)
        assert name in train and len(ts) == 3 and r not in ts
    assert train_placement.sample_plan(3, 0, train, args) == train_placement.sample_plan(3, 0, train, args)
    out, folder = tmp_path / "run", tmp_path / "weights"
    common = ["--store", str(tmp_path), "--out", str(out), "--batch", "2", "--hidden", "8", "--val-every", "2"]
    train_placement.main([*common, "--steps", "2", "--lr", "1e-2", "--export", str(folder)])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1, 2]
    assert log[0]["val_rmse_learned"] == pytest.approx(log[0]["val_rmse_frozen"], rel=1e-4)  # untrained = frozen
    entry = json.loads((folder / "manifest.json").read_text())["models"]["placement"]
    assert entry["training"]["steps"] == 2 and "CC BY-NC 4.0" in entry["training"]["licence"]
    assert entry["training"]["validation_sequences"] == list(train_real.VAL_SEQUENCES)
    state, _ = weights.load_trained("placement", folder)
    assert state["body.4.weight"].abs().sum() > 0  # it moved from its zero start
    assert train_placement.main([*common, "--steps", "3", "--resume"])["step"] == 3
    refined = ["--store", str(tmp_path), "--out", str(tmp_path / "refined"), "--batch", "2", "--hidden", "8"]
    assert train_placement.main([*refined, "--loss", "refined", "--steps", "1"])["step"] == 1  # through the refiner


def test_the_auto_head_trains_from_the_store_never_on_validation_sequences_and_exports(tmp_path, monkeypatch):
    import json

    from training import train_auto
    from vidcolor import weights

    monkeypatch.delenv("VIDCOLOR_WEIGHTS", raising=False)
    if not weights.has_trained(train_auto.UNET):
        pytest.skip("no committed U-Net")
    _tiny_store(tmp_path)
    train, val, _ = train_real.open_stores(tmp_path)
    args = train_auto.parse_args(["--batch", "4"])
    for step in range(20):
        plan = train_auto.sample_plan(step, 0, train, 0, args)
        assert len(plan) == 4 and all(name in ("bear", "boat") and i < 4 for name, i in plan)
    assert train_auto.sample_plan(7, 0, train, 0, args) == train_auto.sample_plan(7, 0, train, 0, args)
    out, folder = tmp_path / "run", tmp_path / "weights"
    common = ["--store", str(tmp_path), "--out", str(out), "--batch", "2", "--hidden", "8", "--val-every", "2"]
    train_auto.main([*common, "--steps", "2", "--lr", "1e-2", "--export", str(folder)])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1, 2] and log[0]["val_gray"] < 100
    assert log[0]["val_head"] == pytest.approx(log[0]["val_gray"])  # untrained: gray
    assert log[2]["val_head"] != pytest.approx(log[0]["val_head"])  # it moved
    entry = json.loads((folder / "manifest.json").read_text())["models"][train_auto.NAME]
    training = entry["training"]
    assert training["steps"] == 2 and "CC BY-NC 4.0" in training["licence"]
    assert training["validation_sequences"] == list(train_real.VAL_SEQUENCES)
    assert training["unet_sha256"] == weights.read_manifest()["models"][train_auto.UNET]["sha256"]
    weights.load_trained(train_auto.NAME, folder)  # the file matches its manifest entry
    assert train_auto.main([*common, "--steps", "3", "--resume"])["step"] == 3
    kept = ["--export-only", "--head", str(out / "head-2.pt"), "--export", str(folder)]
    assert train_auto.main([*common, "--steps", "3", *kept])["step"] == 2  # a kept head, not the last checkpoint
    training = json.loads((folder / "manifest.json").read_text())["models"][train_auto.NAME]["training"]
    assert training["steps"] == 2 and training["minutes"] == round(log[2]["elapsed"] / 60, 1)
