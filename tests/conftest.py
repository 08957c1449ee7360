"""Test-wide settings. Tests never touch the network: the Hub is offline and its cache is a fresh temp folder.

huggingface_hub reads these variables when it is imported, so they are set here, before any test module imports it.
"""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="hfimg-test-hub-cache-")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HFIMG_CACHE", tempfile.mkdtemp(prefix="hfimg-test-cache-"))

import torch  # noqa: E402  (after the variables above, which must be set before any Hub import)

# The tests use tiny tensors, where one thread is as fast as two and does not fight other processes for the cores.
torch.set_num_threads(1)

# tqdm serialises its bars with a class-wide lock that holds a multiprocessing semaphore, shared with every process
# forked from this one. Mutation testing forks one process per mutant from a parent that already drew bars: a child
# stopped at its time limit while writing a bar leaves the semaphore taken, and every later child that draws a bar
# (the folder commands do) waits on it forever. A lock of this process's own threads is enough for the tests.
import threading  # noqa: E402

from tqdm import tqdm  # noqa: E402

tqdm.set_lock(threading.RLock())
