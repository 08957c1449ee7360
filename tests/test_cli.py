"""The `hfimg` console script."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import hfimg
from hfimg.cli import main


@pytest.fixture
def denoiser_dir(tmp_path):
    hfimg.create_model("denoise-cnn", channels=1, features=8, depth=3).save_pretrained(tmp_path / "denoiser")
    return tmp_path / "denoiser"


def test_list_names_the_families(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in hfimg.model_names():
        assert name in out


def test_info_and_restore(denoiser_dir, tmp_path, capsys):
    assert main(["info", str(denoiser_dir)]) == 0
    assert "DenoiseCNN" in capsys.readouterr().out
    Image.fromarray(np.full((9, 11), 100, dtype=np.uint8)).save(tmp_path / "in.png")
    assert main(["restore", str(denoiser_dir), str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]) == 0
    assert Image.open(tmp_path / "out.png").size == (11, 9)


def test_errors_are_one_line_not_a_traceback(denoiser_dir, tmp_path, capsys):
    assert main(["restore", str(denoiser_dir), str(tmp_path / "missing.png")]) == 1
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="cannot generate"):
        main(["generate", str(denoiser_dir)])
    assert main(["info", "nobody/nothing"]) == 1
    assert "not a bundled model" in capsys.readouterr().err
