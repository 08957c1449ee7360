"""Inpainting objective (InpaintCNN, InpaintRCNN): masked L1 with separate hole and valid weights.

Each batch gets fresh random holes from `hfimg.masks` (brush strokes and boxes covering `--hole_range` of the
image). The loss, as in Liu et al. 2018 (partial convolutions), weights the error inside the hole (`--hole_weight`,
default 6) apart from the error on the known pixels (`--valid_weight`, default 1), both averaged over all pixel
values. Optional terms:

* `--ssim_weight`: 1 - SSIM of the composited result (torchmetrics' SSIM), for structure the L1 misses;
* `--gradient_weight`: L1 between the Sobel derivatives of the prediction and of the image, in the hole: a pixel
  loss is content with a smooth fill, this term asks for the edges and texture too;
* `--texture_weight`: L1 between the Gram matrices of the composite's and the image's features in a fixed
  random-weight CNN (`RandomTextureFeatures`): texture statistics, which a smooth fill of a textured region misses;
* `--adv_weight`: an adversarial term on composited results (trained alongside, saved in `discriminator/`): a DCGAN
  discriminator on whole images (`--adv_kind image`) or a PatchGAN on the patches over the hole with feature
  matching (`--adv_kind patch`, LaMa's recipe);
* `--step_weight` (recurrent model): the same masked L1 on each pass's output, over the pixels filled so far, so
  every pass is trained to fill its ring well, not only the last.
"""

from __future__ import annotations

import torch

from hfimg import masks
from hfimg.hub import HubModel
from hfimg.training.config import ConfigError, TrainingConfig
from hfimg.training.objective import (
    AdversarialTerm,
    ApplyLoss,
    Objective,
    PatchAdversarialTerm,
    RandomTextureFeatures,
    pixel_loss,
    sobel,
    texture_loss,
)


class InpaintObjective(Objective):
    """Trains an inpainter `model(image, mask) -> prediction` (1 = hole) on random masks."""

    name = "inpaint"
    # Not in channels_last for bf16 on CPU: measured slower for both, 19.7 against 17.6 ms (inpaint-cnn) and 54.1
    # against 49.8 ms (inpaint-rcnn) per step of 8 x 64 px crops (`benchmarks/bench_train.py --precisions`, 2 cores,
    # 2026-12-02).

    def __init__(self, model: HubModel, config: TrainingConfig):
        super().__init__(model, config)
        self.recurrent = config.inpaint.step_weight > 0
        if self.recurrent and not hasattr(model, "fill_schedule"):
            raise ConfigError(f"--step_weight needs a recurrent inpainter (inpaint-rcnn), not {config.model!r}.")
        self.patches = config.inpaint.adv_kind == "patch"
        if config.adversarial.adv_weight > 0:
            if self.patches and config.resolution % 8:
                raise ConfigError(f"--adv_kind patch needs --resolution a multiple of 8, got {config.resolution}.")
            term = PatchAdversarialTerm if self.patches else AdversarialTerm
            self.adversarial = term(config, model.channels)
        # Fixed, not trained: kept out of `networks` (no optimizer, nothing saved); the same weights in every run.
        self._texture = RandomTextureFeatures(model.channels) if config.inpaint.texture_weight > 0 else None
        self._ssim = None
        if config.inpaint.ssim_weight > 0:
            from torchmetrics.functional.image import structural_similarity_index_measure

            self._ssim = structural_similarity_index_measure

    def training_step(self, batch: dict[str, torch.Tensor], step: int, apply: ApplyLoss) -> dict | None:
        images = batch["image"]  # (B, C, H, W)
        batch_size, _, height, width = images.shape
        hole = masks.random_masks(
            batch_size, height, width, hole_range=self.config.inpaint.hole_range, kind=self.config.inpaint.mask_kind
        ).to(images.device)  # (B, 1, H, W), 1 = hole
        if self.recurrent:
            prediction, passes = self.net(images, hole, return_steps=True)  # (B, C, H, W), T x (B, C, H, W)
        else:
            prediction = self.net(images, hole)  # (B, C, H, W)
        composite = hole * prediction + (1 - hole) * images  # what a user gets back

        logs = {}
        error = pixel_loss(prediction, images, self.config.loss)  # (B, C, H, W)
        logs["hole"] = (hole * error).mean()
        logs["valid"] = ((1 - hole) * error).mean()
        loss = self.config.inpaint.hole_weight * logs["hole"] + self.config.inpaint.valid_weight * logs["valid"]
        if self.recurrent:
            # Pass t has filled the hole minus what is still open after it: score those pixels.
            still_open = self.model.fill_schedule(hole)  # T x (B, 1, H, W)
            per_pass = [
                ((hole - open_) * pixel_loss(x, images, self.config.loss)).mean()
                for x, open_ in zip(passes, still_open, strict=True)
            ]
            logs["passes"] = torch.stack(per_pass).mean()
            loss = loss + self.config.inpaint.step_weight * self.config.inpaint.hole_weight * logs["passes"]
        if self.config.inpaint.gradient_weight > 0:
            logs["gradient"] = (hole * (sobel(prediction.float()) - sobel(images.float())).abs()).mean()
            loss = loss + self.config.inpaint.gradient_weight * self.config.inpaint.hole_weight * logs["gradient"]
        if self._texture is not None:
            self._texture.to(images.device)  # a no-op after the first step
            logs["texture"] = texture_loss(self._texture, composite, images)
            loss = loss + self.config.inpaint.texture_weight * logs["texture"]
        if self._ssim is not None:
            logs["ssim"] = self._ssim(composite.float(), images.float(), data_range=2.0)
            loss = loss + self.config.inpaint.ssim_weight * (1 - logs["ssim"])

        if self.adversarial is not None:
            d_loss = self.adversarial.discriminator_step(images, [composite], apply, hole=hole)
            if d_loss is None:
                return None
            logs["adv"] = self.adversarial.generator_loss(composite, hole=hole, real=images)
            logs["loss_d"] = d_loss
            loss = loss + self.config.adversarial.adv_weight * logs["adv"]

        if not apply(loss, self.optimizer):
            return None
        logs["loss"] = loss
        return {name: value.detach() for name, value in logs.items()}

    @torch.no_grad()
    def preview(self, model: HubModel, images: torch.Tensor | None, generator: torch.Generator) -> list[torch.Tensor]:
        height, width = images.shape[-2:]
        hole = masks.random_masks(
            len(images),
            height,
            width,
            hole_range=self.config.inpaint.hole_range,
            kind=self.config.inpaint.mask_kind,
            generator=generator,
        ).to(images.device)
        damaged = images * (1 - hole) + hole  # holes shown white
        result = hole * model(images, hole) + (1 - hole) * images
        return [damaged, result, images]

    @classmethod
    def preview_legend(cls) -> str:
        return "Row 1: images with random holes (white); row 2: the model's fill; row 3: the originals."
