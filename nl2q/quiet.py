"""Silence library chatter (progress bars, load warnings) that would bury an answer or a progress bar."""

from __future__ import annotations

import os


def quiet() -> None:
    """Set transformers and Hugging Face Hub to errors only and offline (unless the caller set them)."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:
        pass
