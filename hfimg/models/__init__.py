"""Model families, one file each. Importing this package registers them all."""

from hfimg.models.classifier import FashionClassifier
from hfimg.models.denoise_cnn import DenoiseCNN, DenoiseUNet
from hfimg.models.gan import DCGANDiscriminator, DCGANGenerator, PatchDiscriminator
from hfimg.models.inpaint_cnn import InpaintCNN
from hfimg.models.inpaint_rcnn import InpaintRCNN
from hfimg.models.vae import ConvVAE

__all__ = [
    "ConvVAE",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DenoiseCNN",
    "DenoiseUNet",
    "FashionClassifier",
    "InpaintCNN",
    "InpaintRCNN",
    "PatchDiscriminator",
]
