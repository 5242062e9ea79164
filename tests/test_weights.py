import json

import numpy as np
import pytest
import torch

from vidcolor import weights
from vidcolor.errors import WeightsError
from vidcolor.models.vgg import VGG_LAYERS


def random_vgg_state() -> dict:
    state = {}
    for name, c_in, c_out in (layer for layer in VGG_LAYERS if layer != "pool"):
        state[f"{name}.weight"] = torch.randn(c_out, c_in, 3, 3)
        state[f"{name}.bias"] = torch.randn(c_out)
    return state


def test_resolve_order(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VIDCOLOR_VGG", raising=False)
    with pytest.raises(WeightsError) as err:
        weights.resolve_vgg(None)
    msg = str(err.value)
    for way in ("--vgg", "VIDCOLOR_VGG", "fetch-vgg", "import-vgg", str(tmp_path / "cache")):
        assert way in msg
    cached = tmp_path / "cache" / weights.VGG_FILENAME
    cached.parent.mkdir()
    cached.write_bytes(b"x")
    assert weights.resolve_vgg(None) == cached
    env_file = tmp_path / "env.pth"
    env_file.write_bytes(b"x")
    monkeypatch.setenv("VIDCOLOR_VGG", str(env_file))
    assert weights.resolve_vgg(None) == env_file
    explicit = tmp_path / "explicit.pth"
    explicit.write_bytes(b"x")
    assert weights.resolve_vgg(explicit) == explicit
    with pytest.raises(WeightsError, match="not found"):
        weights.resolve_vgg(tmp_path / "nope.pth")


def test_import_converted_pth_and_reject_garbage(tmp_path):
    src = tmp_path / "vgg.pth"
    state = random_vgg_state()
    torch.save(state, src)
    dest = weights.import_vgg(src, tmp_path / "cache")
    loaded = weights.load_vgg_state(dest)
    assert torch.equal(loaded["conv3_2.weight"], state["conv3_2.weight"])
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="cannot read"):
        weights.load_vgg_state(junk)
    del state["conv4_1.bias"]
    torch.save(state, src)
    with pytest.raises(WeightsError, match="conv4_1.bias"):
        weights.load_vgg_state(src)


def test_import_keras_h5_layout(tmp_path):
    h5py = pytest.importorskip("h5py")
    state = random_vgg_state()
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:  # Keras 2 layout: layer group -> weight datasets, HWIO kernels
        for name in weights.VGG_CONV_NAMES:
            group = f.create_group(f"block{name[4]}_conv{name[6]}")
            kernel = state[f"{name}.weight"].permute(2, 3, 1, 0).numpy()
            group.create_dataset(f"block{name[4]}_conv{name[6]}_W_1:0", data=kernel)
            group.create_dataset(f"block{name[4]}_conv{name[6]}_b_1:0", data=state[f"{name}.bias"].numpy())
    dest = weights.import_vgg(path, tmp_path / "cache")
    loaded = weights.load_vgg_state(dest)
    for key, tensor in state.items():
        assert torch.equal(loaded[key], tensor), key


def test_real_vgg_file_checks_out(vgg_path):
    state = weights.load_vgg_state(vgg_path)
    assert len(state) == 18
    if vgg_path.name == weights.VGG_FILENAME:
        assert weights.sha256_file(vgg_path) == weights.VGG_FILE_SHA256


def test_export_and_verify_trained(tmp_path):
    state = {"a.weight": torch.randn(4, 3), "bn.num_batches_tracked": torch.tensor(5)}
    path = weights.export_trained("thing", state, {"config": {"width": 4}}, tmp_path)
    loaded, entry = weights.load_trained("thing", tmp_path)
    assert torch.allclose(loaded["a.weight"], state["a.weight"], atol=1e-2)  # stored as fp16
    assert entry["config"] == {"width": 4}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["models"]["thing"]["sha256"] == weights.sha256_file(path)
    # a corrupted file is rejected
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match"):
        weights.load_trained("thing", tmp_path)
    with pytest.raises(WeightsError, match="no trained weights 'other'"):
        weights.load_trained("other", tmp_path)
    path.unlink()
    with pytest.raises(WeightsError, match="missing"):
        weights.load_trained("thing", tmp_path)


def test_fetch_rejects_bad_md5(tmp_path):
    src = tmp_path / "fake.h5"
    src.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    with pytest.raises(WeightsError, match="md5"):
        weights.fetch_vgg(src.as_uri(), tmp_path / "cache")
    assert not (tmp_path / "cache" / weights.VGG_FILENAME).exists()
    assert list((tmp_path / "cache").iterdir()) == []
