"""What hfimg needs to work offline: where it keeps its caches, and whether the Hugging Face Hub answers at all.

Apart from the registry and the data layer so that both (and the ONNX export cache) use it without importing each
other.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import constants
from huggingface_hub.utils import get_session


def cache_dir() -> Path:
    """Folder for hfimg's converted corpora: $HFIMG_CACHE, else $XDG_CACHE_HOME/hfimg, else ~/.cache/hfimg."""
    if os.environ.get("HFIMG_CACHE"):
        return Path(os.environ["HFIMG_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "hfimg"


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers at all, asked once with a short timeout.

    huggingface_hub retries a request that cannot connect five times with growing waits (~25 s in all) before it
    falls back to the local cache; one quick request first lets an offline machine get its answer at once.
    """
    if constants.HF_HUB_OFFLINE:
        return False
    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)  # any answer, even an error status, is an answer
    except Exception:  # DNS failure, refused connection, timeout, proxy error: not reachable now
        return False
    return True
