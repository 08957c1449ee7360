"""The one card writer (`hfimg.cards`): the class's metadata merged with the caller's, rendered from a template."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard

import hfimg
from hfimg.cards import card_data, model_card

ROOT = Path(__file__).resolve().parent.parent


def tiny_generator() -> hfimg.HubModel:
    return hfimg.create_model("dcgan", resolution=32, channels=1, base_channels=4, latent_dim=8)


def accuracy(value: float) -> EvalResult:
    return EvalResult(
        task_type="image-classification",
        dataset_type="zalando-datasets/fashion_mnist",
        dataset_name="Fashion-MNIST",
        dataset_split="test",
        metric_type="accuracy",
        metric_value=value,
    )


def test_card_data_is_the_class_metadata_merged_with_the_callers():
    model = tiny_generator()
    own = model._hub_mixin_info.model_card_data
    data = card_data(
        model, model_name="hfimg/x", datasets=["a/b"], eval_results=[accuracy(0.9)], tags=["zzz", "gan", "aaa"]
    )
    assert data.library_name == own.library_name == "hfimg"
    assert data.license == own.license == "mit"
    assert data.pipeline_tag == own.pipeline_tag == "unconditional-image-generation"
    assert data.tags == sorted({*own.tags, "zzz", "aaa"})  # a union: "gan" is the class's already, kept once
    assert data.datasets == ["a/b"] and data.model_name == "hfimg/x"
    assert [r.metric_value for r in data.eval_results] == [0.9]
    assert "zzz" not in own.tags and own.datasets is None  # the class's own metadata is left as it was


def test_card_data_without_results_has_no_model_name_nor_datasets():
    data = card_data(tiny_generator(), model_name="hfimg/x")
    assert data.datasets is None and data.eval_results is None and data.model_name is None
    assert "model_name" not in data.to_yaml() and "datasets" not in data.to_yaml()


def test_the_class_card_is_the_card_writers():
    model = tiny_generator()
    card = model.generate_model_card(repo_id="me/tiny")
    assert str(card) == str(model_card(model, repo_id="me/tiny"))
    assert card.text.startswith("\n# hfimg dcgan\n\nA `DCGANGenerator` model from [hfimg](https://github.com/")
    assert 'hfimg.load("me/tiny")' in card.text
    assert card.data.tags == model._hub_mixin_info.model_card_data.tags


def test_a_template_file_or_text_gets_the_metadata_and_the_fields(tmp_path):
    model = tiny_generator()
    template = "---\n{{ card_data }}\n---\n\n# {{ model_name }}: {{ class_name }}, {{ extra }}\n"
    (tmp_path / "t.md").write_text(template)
    for given in (tmp_path / "t.md", template):
        card = model_card(
            model, template=given, model_name="hfimg/x", eval_results=[accuracy(0.5)], tags=["photos"], extra=7
        )
        assert card.text.strip() == "# hfimg/x: DCGANGenerator, 7"
        loaded = ModelCard(str(card))  # the header parses back as the Hub reads it
        assert loaded.data.model_name == "hfimg/x" and "photos" in loaded.data.tags
        assert loaded.data.eval_results[0].metric_value == 0.5


def test_the_classifier_card_is_rendered_from_its_template(tmp_path):
    spec = importlib.util.spec_from_file_location("train_classifier", ROOT / "scripts" / "train_classifier.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.CARD_TEMPLATE.is_file()
    model = hfimg.create_model("fashion-classifier", base_channels=4)
    for name, judge in (("hfimg/fashion-mnist-classifier", False), ("hfimg/fashion-mnist-judge-x", True)):
        args = script.parse_args(["--output_dir", str(tmp_path), "--model_name", name])
        script.write_card(args, model, 0.91234, [0.5] * len(model.labels), 1.25)
        card = ModelCard.load(tmp_path / "README.md")
        assert card.data.model_name == name and card.data.eval_results[0].metric_value == 0.9123
        assert card.data.pipeline_tag == "image-classification" and "fid" in card.data.tags
        assert card.data.datasets == ["zalando-datasets/fashion_mnist"]
        assert f"# {name}\n" in card.text and "**91.23%** accuracy" in card.text
        assert f"| {model.labels[0]} | 50.0% |" in card.text and "1.2 minutes" in card.text
        assert ("It is an independent judge" in card.text) == judge
