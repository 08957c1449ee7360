"""benchmarks.bench_gan_recipes on a tiny garment corpus: equal time budgets, a longer budget continues, the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package lives at the repository root
from benchmarks import bench_gan_recipes, judging  # noqa: E402
from tests.test_bench_prior import garment_corpus, garments  # noqa: E402


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Rows of tiny networks on 16 garments; the benchmark's test images are garments too."""
    corpus = garment_corpus(tmp_path / "fashion" / "train.parquet", 16)
    tiny_flags = {"dataset": str(corpus), "latent_dim": "8", "shuffle_buffer": "8", "train_batch_size": "4"}
    monkeypatch.setattr(bench_gan_recipes, "COMMON", {**bench_gan_recipes.COMMON, **tiny_flags})
    rows = {
        "narrow": {**bench_gan_recipes.HALF, "base_channels": "4", "train_batch_size": "4"},
        "narrow-ema": {**bench_gan_recipes.HALF, "base_channels": "4", "train_batch_size": "4", "ema_decay": "0.9"},
    }
    monkeypatch.setattr(bench_gan_recipes, "ROWS", rows)
    images = list(garments(16, seed=1))
    monkeypatch.setattr(judging, "real_images", lambda split, count: images[:count])
    return tmp_path


def run(root: Path, minutes: float) -> dict:
    return bench_gan_recipes.main(
        [
            "--rows", "narrow", "narrow-ema", "--minutes", str(minutes), "--runs_dir", str(root / "runs"),
            "--checkpointing_steps", "5", "--num_samples", "16", "--curve_samples", "16", "--two_sample_steps", "5",
            "--judges", *judging.JUDGES[:2], "--mirror_factor", "0", "--json", str(root / "recipes.json"),
        ]
    )  # fmt: skip


def test_rows_train_for_the_same_minutes_and_a_longer_budget_continues_them(tiny):
    first = run(tiny, 0.1)
    assert [row["name"] for row in first["rows"]] == ["narrow", "narrow-ema"]
    for row in first["rows"]:
        # stopped by the clock (a checkpoint due at the last step is saved just before the clock is read)
        assert 0.09 <= row["minutes"] < 0.2 and row["steps"] > 0
        assert row["curve"] and row["curve"][-1]["step"] == row["steps"]  # a checkpoint where it stopped
        assert set(row["final"]["judges"]) == set(judging.JUDGES[:2])
    assert json.loads((tiny / "recipes.json").read_text())["rows"][0]["flags"]["base_channels"] == "4"
    longer = run(tiny, 0.2)
    for before, after in zip(first["rows"], longer["rows"], strict=True):
        assert after["steps"] > before["steps"] and 0.19 <= after["minutes"] < 0.3  # resumed, not restarted
        assert after["curve"][: len(before["curve"])] == before["curve"]  # the earlier checkpoints are kept


def test_fit_vae_prior_adds_a_fitted_mixture_and_keeps_every_weight(tmp_path):
    import importlib.util

    import torch

    import hfimg
    from hfimg import ConvVAE

    path = Path(__file__).parents[1] / "scripts" / "fit_vae_prior.py"
    spec = importlib.util.spec_from_file_location("fit_vae_prior", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    corpus = garment_corpus(tmp_path / "fashion" / "train.parquet", 24)
    ConvVAE(resolution=32, channels=1, latent_dim=4, base_channels=4).save_pretrained(tmp_path / "plain")
    args = ["--model", str(tmp_path / "plain"), "--output_dir", str(tmp_path / "mixed"), "--components", "3"]
    script.main(script.parse_args([*args, "--dataset", str(corpus), "--images", "24"]))
    plain, mixed = hfimg.load(tmp_path / "plain"), hfimg.load(tmp_path / "mixed")
    assert mixed.prior_components == 3 and not torch.equal(mixed.prior_means, torch.zeros(3, 4))
    for name, tensor in plain.state_dict().items():
        torch.testing.assert_close(mixed.state_dict()[name], tensor, rtol=0, atol=0)  # encoder, decoder unchanged
    assert not torch.equal(mixed.sample_latents(8, seed=0), plain.sample_latents(8, seed=0))
    # Fitted again with another number of components: the old mixture is replaced, the networks kept.
    again = ["--model", str(tmp_path / "mixed"), "--output_dir", str(tmp_path / "five"), "--components", "5"]
    script.main(script.parse_args([*again, "--dataset", str(corpus), "--images", "24"]))
    five = hfimg.load(tmp_path / "five")
    assert five.prior_components == 5 and five.prior_means.shape == (5, 4)
    for name, tensor in plain.state_dict().items():
        torch.testing.assert_close(five.state_dict()[name], tensor, rtol=0, atol=0)
