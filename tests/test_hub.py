"""hfimg.load resolution (bundled, folder, Hub cache) and the loading errors users can meet."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants
from PIL import Image

import hfimg
from hfimg import registry
from hfimg.cli import main
from hfimg.imaging import PreparedImage

DENOISER = {"channels": 1, "features": 8, "depth": 3}


def put_in_hub_cache(folder: Path, repo_id: str) -> Path:
    """Lay `folder` out as the Hub cache does for a downloaded model repo: models--ORG--NAME/{refs,snapshots}."""
    repo_dir = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)  # 40 hex digits, no newline
    shutil.copytree(folder, repo_dir / "snapshots" / commit, dirs_exist_ok=True)
    return repo_dir


@pytest.fixture
def saved_denoiser(tmp_path) -> tuple[hfimg.DenoiseCNN, Path]:
    torch.manual_seed(0)
    model = hfimg.DenoiseCNN(**DENOISER).eval()
    model.save_pretrained(tmp_path / "denoiser")
    return model, tmp_path / "denoiser"


def test_tests_run_offline_with_a_private_cache():
    assert constants.HF_HUB_OFFLINE
    assert "hfimg-test-hub-cache" in constants.HF_HUB_CACHE


def test_load_hub_id_from_the_local_cache(saved_denoiser):
    model, folder = saved_denoiser
    put_in_hub_cache(folder, "someone/tiny-denoiser")
    loaded = hfimg.load("someone/tiny-denoiser")
    assert isinstance(loaded, hfimg.DenoiseCNN)
    x = torch.rand(1, 1, 12, 10) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_class_from_pretrained_reads_the_cache_too(saved_denoiser):
    _, folder = saved_denoiser
    put_in_hub_cache(folder, "someone/direct")
    assert isinstance(hfimg.DenoiseCNN.from_pretrained("someone/direct"), hfimg.DenoiseCNN)


def test_unknown_hub_id_offline_says_not_bundled_and_unreachable():
    with pytest.raises(OSError) as info:
        hfimg.load("nobody/not-a-model")
    message = str(info.value)
    assert "not a bundled model" in message and "cannot be reached" in message


def test_unknown_bundled_id_lists_what_is_bundled():
    with pytest.raises(OSError, match="not a bundled model"):
        hfimg.load("hfimg/no-such-model")


def test_a_typo_of_a_bundled_id_suggests_it_instead_of_the_network(capsys):
    with pytest.raises(FileNotFoundError, match="did you mean 'hfimg/denoise-cnn-photos'") as info:
        hfimg.load("hfimg/denoise-cnn-photo")
    assert "cannot be reached" not in str(info.value)  # a typo does not send the user after the network
    assert main(["info", "hfimg/denoise-cnn-photo"]) == 1
    assert "did you mean 'hfimg/denoise-cnn-photos'" in capsys.readouterr().err


def test_a_path_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a bundled model"):
        hfimg.load(tmp_path / "missing" / "folder")


def test_bundled_models_are_found_first(saved_denoiser, monkeypatch, tmp_path):
    _, folder = saved_denoiser
    bundled = tmp_path / "pretrained"
    shutil.copytree(folder, bundled / "tiny-denoiser")
    monkeypatch.setattr(registry, "BUNDLED_DIR", bundled)
    assert hfimg.list_models() == ["hfimg/tiny-denoiser"]
    assert isinstance(hfimg.load("hfimg/tiny-denoiser"), hfimg.DenoiseCNN)


def test_pickle_only_folder_is_refused_with_the_reason(saved_denoiser):
    model, folder = saved_denoiser
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match="safetensors only"):
        hfimg.load(folder)
    with pytest.raises(ValueError, match="unpickling can run arbitrary code"):
        hfimg.DenoiseCNN.from_pretrained(folder)


def test_pickle_only_hub_repo_is_refused(saved_denoiser, tmp_path):
    model, folder = saved_denoiser
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(folder / "config.json", pickled / "config.json")
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    put_in_hub_cache(pickled, "someone/pickled")
    with pytest.raises(ValueError, match="safetensors only"):
        hfimg.load("someone/pickled")


def test_config_that_does_not_match_the_weights(saved_denoiser):
    _, folder = saved_denoiser
    config = json.loads((folder / "config.json").read_text())
    config["features"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not fit"):
        hfimg.load(folder)


def test_missing_weights_are_not_ignored(saved_denoiser):
    # from_pretrained's default in huggingface_hub is strict=False; hfimg loads strictly.
    _, folder = saved_denoiser
    config = json.loads((folder / "config.json").read_text())
    config["depth"] = 4
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not fit"):
        hfimg.load(folder)


def test_folder_without_model_type(saved_denoiser):
    _, folder = saved_denoiser
    config = json.loads((folder / "config.json").read_text())
    del config["model_type"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="model_type"):
        hfimg.load(folder)
    assert isinstance(hfimg.DenoiseCNN.from_pretrained(folder), hfimg.DenoiseCNN)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'dcgna'.*choose one of"):
        hfimg.create_model("dcgna")


def test_bad_image_inputs_are_explained(tmp_path):
    model = hfimg.DenoiseCNN(**DENOISER)
    with pytest.raises(TypeError, match="expected a PIL image"):
        model.restore(12)
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    with pytest.raises(ValueError, match="not a readable image"):
        model.restore(not_an_image)
    with pytest.raises(FileNotFoundError, match="no such file"):
        model.restore(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="channels"):
        model.restore(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="uint8"):
        model.restore(np.zeros((8, 8), dtype=np.float64))


def test_restore_returns_the_input_mode_and_size():
    model = hfimg.DenoiseCNN(**DENOISER)
    for mode in ("L", "RGB", "RGBA"):
        image = Image.new(mode, (13, 7))
        out = model.restore(image)
        assert out.mode == mode and out.size == (13, 7)
    # Odd modes (palette, 16-bit) come back in the model's own mode.
    assert model.restore(Image.new("P", (5, 6))).mode == "L"
    assert model.restore(Image.new("I;16", (5, 6))).mode == "L"


def test_16_bit_images_are_scaled_not_clipped():
    # PIL's own convert("L") clips 16-bit values at 255, which would hand the network an all-white image.
    mid_grey = Image.fromarray(np.full((4, 5), 32896, dtype=np.uint16))
    assert mid_grey.mode.startswith("I;16")
    prepared = PreparedImage.from_input(mid_grey, channels=1)
    assert prepared.original.mode == "L"
    torch.testing.assert_close(prepared.tensor, torch.zeros(1, 1, 4, 5), atol=1 / 127.5, rtol=0)


def test_hub_cache_env_is_what_huggingface_hub_uses():
    # Guards the other tests: had huggingface_hub been imported before conftest set the variables,
    # they would silently read the user's real cache.
    assert os.environ["HF_HUB_CACHE"] == constants.HF_HUB_CACHE


def test_loading_a_folder_prints_nothing_to_stdout(tmp_path: Path, capsys):
    # Scripts print their results to stdout; the mixin's "Loading weights from local directory" must not go there.
    hfimg.create_model("denoise-cnn", channels=1, features=8, depth=3).save_pretrained(tmp_path)
    capsys.readouterr()
    model = hfimg.load(tmp_path)
    assert model.model_type == "denoise-cnn"
    assert capsys.readouterr().out == ""
