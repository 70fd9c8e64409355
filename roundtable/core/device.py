"""Which device the runs use: the one answer every stage takes, so every arm trains and
is scored on the same kind of device."""

from __future__ import annotations

from roundtable.core.errors import UserError


def pick_device(requested: str) -> str:
    """auto: CUDA, then MPS, then CPU; a device asked for but absent is a one-line error."""
    import torch  # here, not at the top: the core stays importable without torch loaded

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but no CUDA device is available")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps but MPS is not available")
    return requested
