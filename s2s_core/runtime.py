"""Device, threads and the GPU code path.

On CUDA the training and evaluation loops use bf16 autocast, channels_last memory format, pinned host
memory with non-blocking copies and ``cudnn.benchmark``; on the CPU none of these apply. The flags in
effect are recorded in every run's manifest (``RuntimeFlags.as_dict``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass

import torch

from s2s_core import settings
from s2s_core.errors import ConfigError


def select_device(name: str | None = "auto") -> torch.device:
    """Return the device to run on: ``"auto"`` picks CUDA when present, else the CPU.

    Under ``torchrun`` each process takes the GPU of its ``LOCAL_RANK``.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            local_rank = os.environ.get("LOCAL_RANK", "0")
            if not local_rank.isdigit():
                raise ConfigError(f"LOCAL_RANK={local_rank!r} is not a process index (set by torchrun)")
            return torch.device("cuda", int(local_rank) % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but CUDA is not available on this machine; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    elif device.type != "cpu":
        raise ConfigError(f"unsupported device {name!r}: use auto, cpu, cuda or cuda:N")
    return device


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count and return it.

    ``n=None`` reads ``S2S_THREADS`` and otherwise leaves torch's default. On small machines shared with
    other processes, one thread is often faster than two (oversubscription), so it is a setting.
    """
    if n is None:
        n = settings.threads()
        if n is None:
            return torch.get_num_threads()
    if n < 1:
        raise ConfigError(f"thread count must be at least 1, got {n}")
    torch.set_num_threads(n)
    return n


@dataclass(frozen=True)
class RuntimeFlags:
    """Speed settings that depend on the device (all off on the CPU)."""

    device: str
    autocast_bf16: bool
    channels_last: bool
    pin_memory: bool
    non_blocking: bool
    cudnn_benchmark: bool

    @classmethod
    def for_device(cls, device: torch.device, *, amp: bool = True, channels_last: bool = True) -> RuntimeFlags:
        cuda = device.type == "cuda"
        return cls(
            device=str(device),
            # bf16 only where the hardware has it: emulated bf16 (V100, T4) is slower than fp32
            autocast_bf16=cuda and amp and torch.cuda.is_bf16_supported(including_emulation=False),
            channels_last=cuda and channels_last,
            pin_memory=cuda,
            non_blocking=cuda,
            cudnn_benchmark=cuda,
        )

    @classmethod
    def cpu(cls, *, bf16: bool = False) -> RuntimeFlags:
        """CPU flags; ``bf16``: bf16 autocast where the CPU has bf16 instructions (oneDNN: avx512_bf16 or AMX),
        fp32 where it would only be emulated (slower than fp32)."""
        return cls(device="cpu", autocast_bf16=bf16 and cpu_has_bf16(), channels_last=False, pin_memory=False,
                   non_blocking=False, cudnn_benchmark=False)

    def apply_global(self) -> None:
        """Set process-wide switches (``cudnn.benchmark``)."""
        if self.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context manager for the forward pass: bf16 autocast on CUDA, nothing elsewhere (unless the flags were
        set by hand: the benchmarks and tests run the GPU code path on the CPU with CPU autocast)."""
        if self.autocast_bf16:
            return torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """Move a batch of images to the device (channels_last on CUDA)."""
        x = x.to(self.device, non_blocking=self.non_blocking)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def as_dict(self) -> dict:
        return asdict(self)


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 convolutions natively (oneDNN's check: avx512_bf16 or AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
