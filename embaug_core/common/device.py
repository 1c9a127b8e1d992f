"""Which device a worker computes on: a GPU where it has one (CUDA), else the CPU. Vectors
agree across devices within float tolerance, so a cache filled on one kind of worker serves
the others."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(setting: str = "auto") -> torch.device:
    """`auto`: CUDA when available, else the CPU; `cuda` without a GPU is a clear error."""
    if setting not in DEVICES:
        raise ValueError(f"device {setting!r}: choose one of {', '.join(DEVICES)}")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but this worker has no CUDA GPU (use auto)")
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def batch_size(setting: int, device: torch.device, cpu: int, gpu: int) -> int:
    """A batch size that fits: the setting, or (0) the device's default."""
    return setting or (gpu if device.type == "cuda" else cpu)
