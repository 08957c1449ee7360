"""Model families, one file each. Importing this package registers them all."""

from hfimg.models.denoise_cnn import DenoiseCNN

__all__ = ["DenoiseCNN"]
