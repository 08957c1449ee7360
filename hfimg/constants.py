"""Names shared by the data layer, the models and the demo, apart so that reading a label list imports no model."""

from __future__ import annotations

FASHION_MNIST_HUB_ID = "zalando-datasets/fashion_mnist"  # the Hub copy of Fashion-MNIST

# Class names in label order, spelled as in the Hub copy zalando-datasets/fashion_mnist (and hfimg.data).
FASHION_MNIST_LABELS = [
    "T - shirt / top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
