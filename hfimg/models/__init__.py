"""Model families, one file each. Importing this package registers them all."""

from hfimg.models.classifier import FashionClassifier
from hfimg.models.denoise_cnn import DenoiseCNN
from hfimg.models.gan import DCGANDiscriminator, DCGANGenerator
from hfimg.models.inpaint_cnn import InpaintCNN
from hfimg.models.inpaint_rcnn import InpaintRCNN
from hfimg.models.vae import ConvVAE

__all__ = [
    "ConvVAE",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DenoiseCNN",
    "FashionClassifier",
    "InpaintCNN",
    "InpaintRCNN",
]
