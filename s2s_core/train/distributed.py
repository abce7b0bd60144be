"""Data-parallel training under ``torchrun`` (one process per device).

The same commands run unchanged in one process or under ``torchrun --nproc-per-node N``: when the
torchrun variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) are set,
:func:`setup` joins the process group (``nccl`` on CUDA, ``gloo`` on the CPU) and nothing else is read.
Rank 0 writes checkpoints and progress; every rank reads its own share of the data.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from s2s_core.errors import ConfigError
from s2s_core.runtime import select_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def setup(device: str = "auto") -> DistInfo:
    """Pick the device and, under torchrun with ``WORLD_SIZE > 1``, initialise the process group."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return DistInfo(device=select_device(device))
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    dev = select_device(device)
    if dev.type == "cuda":
        if dev.index is None or device.strip().lower() in ("cuda", "auto"):
            dev = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_available():
        raise ConfigError("torch.distributed is not available in this build of PyTorch; run without torchrun")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, info: DistInfo) -> nn.Module:
    """DistributedDataParallel around ``model`` when distributed, else ``model`` itself.

    Only parameters with ``requires_grad`` are synchronised; frozen parts (a classifier, an encoder under
    ``no_grad``) stay local, and their buffers are identical on every rank because they never change.
    """
    if not info.enabled:
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel
    # BatchNorm statistics of the trained part follow rank 0 at every forward (newer torch renamed the switch)
    sync = {"forward_sync_buffers": True} if "forward_sync_buffers" in inspect.signature(ddp).parameters \
        else {"broadcast_buffers": True}
    return ddp(model, device_ids=ids, **sync)


def all_reduce_(t: torch.Tensor, info: DistInfo, op: str = "sum") -> torch.Tensor:
    """In-place all-reduce (``sum`` or ``max``); a no-op in one process."""
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return t


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (in rank order); ``[obj]`` in one process."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
