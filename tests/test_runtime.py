"""Inference backends (hfimg.runtime) and ONNX export (hfimg.export): every path within tolerance of fp32, fp32 exact.

The bf16 tests run on any CPU: where bf16 is not native, PyTorch emulates it (slowly, with the same rounding).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from test_models import TINY_CONFIGS

import hfimg
from hfimg import cores, runtime
from hfimg.cli import main
from hfimg.export import ONNX_TOLERANCE, check_onnx, export_folder, export_onnx
from hfimg.registry import model_names


def tiny(name: str, seed: int = 0) -> hfimg.HubModel:
    torch.manual_seed(seed)
    model = hfimg.create_model(name, **TINY_CONFIGS[name]).eval()
    # A freshly initialised inpainter predicts almost nothing (its head starts near zero); give it a real head so
    # that the comparisons below see the network's output, not only the pull-push fill.
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and module.out_channels <= 12:
            torch.nn.init.normal_(module.weight, std=0.1)
    return model


def photo(height: int, width: int, channels: int = 3) -> Image.Image:
    image = cores.example_images(1, channels, height, width, seed=3)[0]
    array = ((image + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if channels == 1 else array)


def hole_mask(height: int, width: int) -> Image.Image:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 4 : 3 * height // 4, : 2 * width // 3] = 255  # large: reaches the coarse pull-push levels
    return Image.fromarray(mask)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (tiny model, its ONNX file), each family exported once for the whole module (inpainters take ~15 s)."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            model = tiny(name)
            cache[name] = (model, export_onnx(model, tmp_path_factory.mktemp(name) / "model.onnx"))
        return cache[name]

    return get


@pytest.fixture
def bf16_cpu(monkeypatch):
    """Act as a CPU with native bf16, whatever this one has."""
    monkeypatch.setattr(runtime, "fast_bf16", lambda device: True)
    monkeypatch.delenv(runtime.BACKEND_ENV, raising=False)


@pytest.mark.parametrize("name", model_names())
def test_every_family_exports_to_onnx_within_tolerance(name, exported):
    model, path = exported(name)
    graph = onnx.load(str(path)).graph
    spec = model.core_spec()
    assert [node.name for node in graph.input] == list(spec.inputs)
    assert [node.name for node in graph.output] == [spec.output]
    # Every dynamic axis stays symbolic in the file (a fixed number would refuse other sizes).
    for node in graph.input:
        dims = node.type.tensor_type.shape.dim
        for axis in spec.dynamic.get(node.name, {}):
            assert dims[axis].dim_param, f"{name}: axis {axis} of {node.name} was fixed to {dims[axis].dim_value}"
    # Example inputs, and inputs of another batch and size.
    assert check_onnx(model, path) <= ONNX_TOLERANCE


@pytest.mark.parametrize("name", ["inpaint-cnn", "inpaint-rcnn"])
def test_exported_inpainter_fills_a_large_hole_of_any_size_like_pytorch(name, exported):
    # The pull-push start must not be fixed to the export's size: a large hole in a bigger, non-square image
    # needs its coarsest levels.
    model, path = exported(name)
    engine = runtime.OnnxEngine(path)
    height, width = 96, 160
    hole = torch.zeros(1, 1, height, width)
    hole[..., :, : 7 * width // 8] = 1
    image = cores.example_images(1, model.channels, height, width) * (1 - hole)
    inputs = [image, hole] + ([hole] if name == "inpaint-rcnn" else [])
    with torch.inference_mode():
        assert (engine(model, *inputs) - model.core(*inputs)).abs().max() <= ONNX_TOLERANCE


def test_auto_takes_bf16_where_it_agrees_and_forced_fp32_is_exact(bf16_cpu):
    model = tiny("denoise-cnn")
    noisy = photo(37, 29)
    assert runtime.resolve_backend(model) == "bf16"
    fast = np.asarray(model.restore(noisy), dtype=np.int16)
    model.set_backend("fp32")
    exact = model.restore(noisy)
    # fp32 through the image API is exactly the plain tensor path.
    tensor = (torch.from_numpy(np.array(noisy)).permute(2, 0, 1)[None].float() / 127.5 - 1).contiguous()
    with torch.no_grad():
        plain = model.body(tensor)
    expected = ((tensor - plain).clamp(-1, 1)[0].permute(1, 2, 0) + 1) * 127.5
    assert np.array_equal(np.asarray(exact), expected.round().byte().numpy())
    # bf16 is close, not equal.
    assert np.abs(fast - np.asarray(exact, dtype=np.int16)).max() <= 3


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_stays_fp32_when_the_faster_backend_would_change_the_output(native_bf16, monkeypatch):
    monkeypatch.setattr(runtime, "fast_bf16", lambda device: native_bf16)
    monkeypatch.delenv(runtime.BACKEND_ENV, raising=False)
    model = tiny("inpaint-cnn")
    model.set_backend("fp32")
    exact = np.asarray(model.inpaint(photo(40, 48), hole_mask(40, 48)))
    model.set_backend("auto")
    assert runtime.resolve_backend(model) == ("bf16" if native_bf16 else "fp32-cl")
    if native_bf16:  # a CPU whose bf16 would change the output still gets fp32's own arithmetic in channels_last
        runtime.clear_engines(model)
        monkeypatch.setattr(runtime, "MIN_AGREEMENT_DB", 80.0)  # above bf16's 45-60 dB, under fp32-cl's ~140
        assert runtime.resolve_backend(model) == "fp32-cl"
    runtime.clear_engines(model)
    monkeypatch.setattr(runtime, "MIN_AGREEMENT_DB", 1000.0)  # no output but fp32's own can agree this well
    assert runtime.resolve_backend(model) == "fp32"
    assert np.array_equal(np.asarray(model.inpaint(photo(40, 48), hole_mask(40, 48))), exact)


def test_auto_is_fp32_channels_last_without_native_bf16_and_the_environment_decides_the_default(monkeypatch):
    model = tiny("vae")
    monkeypatch.setattr(runtime, "fast_bf16", lambda device: False)
    monkeypatch.delenv(runtime.BACKEND_ENV, raising=False)
    assert runtime.resolve_backend(model) == "fp32-cl"
    monkeypatch.setenv(runtime.BACKEND_ENV, "bf16")
    assert runtime.resolve_backend(model) == "bf16"
    model.set_backend("fp32")  # the model's own choice wins over the environment
    assert runtime.resolve_backend(model) == "fp32"
    monkeypatch.setenv(runtime.BACKEND_ENV, "fast")
    with pytest.raises(ValueError, match="HFIMG_BACKEND='fast' is not a backend"):
        runtime.resolve_backend(tiny("vae"))
    with pytest.raises(ValueError, match="unknown backend 'int8'"):
        model.set_backend("int8")


def test_tensor_calls_and_training_mode_stay_fp32(bf16_cpu):
    model = tiny("inpaint-rcnn")
    model.set_backend("bf16")
    mask = (torch.rand(2, 1, 37, 29, generator=torch.Generator().manual_seed(0)) > 0.6).float()
    image = cores.example_images(2, model.channels, 37, 29) * (1 - mask)
    in_image_api = runtime.fast_inference(lambda: model(image, mask))  # as inpaint() runs it
    with torch.no_grad():
        tensor_call = model(image, mask)
    assert not torch.equal(in_image_api(), tensor_call)  # bf16 inside the image API...
    model.train()
    assert torch.equal(in_image_api(), tensor_call)  # ...but not in training mode
    model.eval()
    model.set_backend("fp32")
    assert torch.equal(in_image_api(), tensor_call)  # and fp32 forced is the tensor path, bit for bit


@pytest.mark.parametrize("name", ["inpaint-cnn", "inpaint-rcnn"])
def test_bf16_inpaints_any_size_and_keeps_every_known_pixel(bf16_cpu, name):
    model = tiny(name)
    model.set_backend("bf16")
    for height, width in ((37, 29), (16, 80)):
        image, mask = photo(height, width, model.channels), hole_mask(height, width)
        result = model.inpaint(image, mask)
        known = np.asarray(mask) < 128
        assert result.size == image.size
        assert np.array_equal(np.asarray(result)[known], np.asarray(image)[known])
        model.set_backend("fp32")
        exact = np.asarray(model.inpaint(image, mask), dtype=np.int16)
        model.set_backend("bf16")
        assert np.abs(np.asarray(result, dtype=np.int16) - exact).max() <= 4


@pytest.mark.parametrize("name", model_names())
def test_fp32_channels_last_is_fp32_up_to_float_rounding_through_the_image_api(name):
    model = tiny(name)
    spec = model.core_spec()
    engine = runtime.TorchEngine(model, "fp32-cl")
    convolutions = [w for w in engine.folded.parameters() if w.ndim == 4]  # (transposed) convolutions' weights
    assert convolutions and all(w.is_contiguous(memory_format=torch.channels_last) for w in convolutions)
    assert all(w.is_contiguous() for w in model.parameters())  # the model itself is left as it was
    with torch.inference_mode():
        exact = model.core(*spec.inputs.values())
        fast = engine(model, *spec.inputs.values())
    assert fast.dtype == torch.float32 and fast.is_contiguous() and fast.shape == exact.shape
    assert runtime.agreement_db(exact, fast) >= 100  # float rounding only (bf16 gives 45-60 dB)
    # Through the image-level API, 8-bit results within one grey level; the inpainters keep every known pixel.
    height, width = 37, 29
    model.set_backend("fp32-cl")
    assert isinstance(runtime.engine(model), runtime.TorchEngine)  # not the eager fp32 path under another name
    image, mask = photo(height, width, model.channels), hole_mask(height, width)
    if not any(hasattr(model, method) for method in ("inpaint", "restore", "generate")):
        return  # no image-level method (the discriminators, the classifier)

    def call():
        if hasattr(model, "inpaint"):
            return model.inpaint(image, mask)
        if hasattr(model, "restore"):
            return model.restore(image)
        return np.stack([np.asarray(one) for one in model.generate(4, seed=1)])

    outputs = []
    for backend in ("fp32", "fp32-cl"):
        model.set_backend(backend)
        outputs.append(np.asarray(call(), dtype=np.int16))
    assert np.abs(outputs[1] - outputs[0]).max() <= 1
    if hasattr(model, "inpaint"):
        known = np.asarray(mask) < 128
        assert np.array_equal(outputs[1][known], np.asarray(image, dtype=np.int16)[known])


def test_bf16_generation_is_close_to_fp32(bf16_cpu):
    model = tiny("dcgan")
    model.set_backend("bf16")
    fast = np.stack([np.asarray(image, dtype=np.int16) for image in model.generate(6, seed=1)])
    model.set_backend("fp32")
    exact = np.stack([np.asarray(image, dtype=np.int16) for image in model.generate(6, seed=1)])
    assert np.abs(fast - exact).max() <= 4


def test_onnxruntime_backend_through_the_image_api_follows_new_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HFIMG_CACHE", str(tmp_path / "cache"))
    model = tiny("denoise-cnn")
    image = photo(40, 56)
    model.set_backend("fp32")
    exact = np.asarray(model.restore(image), dtype=np.int16)
    model.set_backend("onnxruntime")
    assert np.abs(np.asarray(model.restore(image), dtype=np.int16) - exact).max() <= 1
    model.restore(image)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1  # exported once, then reused

    with torch.no_grad():  # new weights: the next call must not run the old export
        model.body[-1].weight.mul_(-1)
    changed = np.asarray(model.restore(image), dtype=np.int16)
    model.set_backend("fp32")
    assert np.abs(changed - np.asarray(model.restore(image), dtype=np.int16)).max() <= 1
    assert not np.array_equal(changed, exact)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 2


def test_cli_export_writes_a_checked_model_and_its_card(tmp_path, capsys):
    folder = tmp_path / "denoiser"
    tiny("denoise-cnn").save_pretrained(folder)
    assert main(["export", str(folder), "--format", "onnx", "-o", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    assert capsys.readouterr().out == f"wrote {out / 'model.onnx'} (inputs and outputs in {out / 'README.md'})\n"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "noisy" in card and "within" in card
    model = hfimg.load(folder)
    assert check_onnx(model, tmp_path / "out" / "model.onnx") <= ONNX_TOLERANCE
    # Every file the command wrote is the one the library call writes for the same model.
    export_folder(model, tmp_path / "library", str(folder))
    assert card == (tmp_path / "library" / "README.md").read_text()
    written = json.loads((tmp_path / "out" / "config.json").read_text())
    assert written == json.loads((tmp_path / "library" / "config.json").read_text()) == model.config_dict()
    feed = {name: x.numpy() for name, x in model.core_spec().inputs.items()}
    cli, library = (
        ort.InferenceSession(str(tmp_path / where / "model.onnx")).run(None, feed)[0] for where in ("out", "library")
    )
    assert np.array_equal(cli, library)
    with torch.inference_mode():
        expected = model.core(*model.core_spec().inputs.values()).numpy()
    assert np.abs(cli - expected).max() <= ONNX_TOLERANCE
    assert np.abs(cli - feed["noisy"]).max() > 10 * ONNX_TOLERANCE  # not the input handed back
    with pytest.raises(SystemExit):
        main(["export", str(folder), "--format", "tflite", "-o", str(tmp_path / "x")])


def test_cli_backend_flag(tmp_path):
    folder = tmp_path / "denoiser"
    tiny("denoise-cnn").save_pretrained(folder)
    photo(20, 24).save(tmp_path / "in.png")
    outputs = []
    for backend in ("fp32", "bf16"):
        out = tmp_path / f"{backend}.png"
        assert main(["restore", str(folder), str(tmp_path / "in.png"), "-o", str(out), "--backend", backend]) == 0
        outputs.append(np.asarray(Image.open(out), dtype=np.int16))
    assert np.abs(outputs[0] - outputs[1]).max() <= 3


@pytest.mark.parametrize("name", ["denoise-cnn", "fashion-classifier"])
def test_folding_batchnorm_keeps_the_output_and_leaves_the_model_alone(name):
    model = tiny(name)
    for module in model.modules():  # running statistics that are not the identity, so the fold has work to do
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    inputs = list(model.core_spec().inputs.values())
    folded = runtime.fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        assert torch.allclose(folded.core(*inputs), model.core(*inputs), atol=1e-5)


def test_engines_follow_weights_changed_behind_the_version_counter_and_do_not_pile_up(bf16_cpu):
    model = tiny("denoise-cnn")
    model.set_backend("bf16")
    image = photo(24, 24)
    for _ in range(4):  # a notebook that trains a little, then looks, again and again
        model.restore(image)
        for parameter in model.parameters():
            parameter.data.mul_(0.9)  # .data: the version counter does not move
    engines = [v for v in runtime._ENGINES[model].values() if isinstance(v, runtime.TorchEngine)]
    assert len(engines) == 1
    for parameter in model.parameters():
        parameter.data.zero_()
    bf16 = np.asarray(model.restore(image))
    model.set_backend("fp32")
    assert np.array_equal(bf16, np.asarray(model.restore(image)))  # zero weights: the input back, on both paths


def test_a_model_made_in_inference_mode_runs_on_every_backend(bf16_cpu):
    with torch.inference_mode():
        model = tiny("denoise-cnn")
    model.set_backend("bf16")
    assert model.restore(photo(16, 16)).size == (16, 16)


def test_vae_samples_are_ordinary_tensors(bf16_cpu):
    samples = tiny("vae").sample(2, seed=0)
    assert not samples.is_inference()
    samples.add_(1)  # usable like any tensor (in place, in autograd)
