"""s2s_core.runtime: device choice, thread count and the GPU flags recorded in run manifests.

There is no GPU here: the CUDA branches are driven by patching ``torch.cuda`` queries, and flags are
checked on the CPU (where every one of them must be off) and through their effect on tensors.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest
import torch

from s2s_core import settings
from s2s_core.errors import ConfigError
from s2s_core.runtime import RuntimeFlags, configure_threads, select_device

FIELDS = ["device", "autocast_bf16", "channels_last", "pin_memory", "non_blocking", "cudnn_benchmark"]


@pytest.fixture
def fake_gpus(monkeypatch):
    """Pretend that CUDA is available with ``n`` GPUs (bf16-capable unless told otherwise)."""

    def install(n: int, bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)

    return install


# --- select_device ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["auto", None, "", "  AUTO "])
def test_auto_without_cuda_is_the_cpu(fake_gpus, name):
    fake_gpus(0)
    assert select_device(name) == torch.device("cpu")


@pytest.mark.parametrize("name", ["cpu", "CPU", " cpu "])
def test_cpu_by_name(name):
    assert select_device(name) == torch.device("cpu")


def test_auto_with_cuda_takes_the_gpu_of_the_local_rank(fake_gpus, monkeypatch):
    fake_gpus(4)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert select_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "3")  # torchrun --nproc-per-node 4: the fourth process
    assert select_device("auto") == torch.device("cuda", 3)
    monkeypatch.setenv("LOCAL_RANK", "5")  # more processes than GPUs: shared round-robin
    assert select_device("auto") == torch.device("cuda", 1)


def test_explicit_gpu_that_exists(fake_gpus):
    fake_gpus(2)
    assert select_device("cuda:1") == torch.device("cuda", 1)
    assert select_device("cuda") == torch.device("cuda")


def test_cuda_without_cuda_says_what_to_do(fake_gpus):
    fake_gpus(0)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match="CUDA is not available.*--device cpu"):
            select_device(name)


def test_gpu_index_beyond_the_machine(fake_gpus):
    fake_gpus(2)
    with pytest.raises(ConfigError, match=r"'cuda:2' does not exist: this machine has 2 GPU\(s\)"):
        select_device("cuda:2")


@pytest.mark.parametrize("name", ["banana", "cuda:x", "gpu", "cuda:0:1"])
def test_unknown_device_names(name):
    with pytest.raises(ConfigError, match="unknown device .*use auto, cpu, cuda or cuda:N"):
        select_device(name)


@pytest.mark.parametrize("name", ["meta", "mps", "xpu"])
def test_devices_torch_knows_but_s2s_does_not_run_on(name):
    with pytest.raises(ConfigError, match=f"unsupported device '{name}'"):
        select_device(name)


# --- configure_threads -----------------------------------------------------------------------------


@pytest.fixture
def set_threads_calls(monkeypatch):
    """Record torch.set_num_threads calls instead of changing the test process's thread count."""
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    return calls


def test_threads_explicit(set_threads_calls):
    assert configure_threads(3) == 3
    assert set_threads_calls == [3]


def test_threads_from_environment(set_threads_calls, monkeypatch):
    monkeypatch.setenv(settings.THREADS_ENV, "2")
    assert configure_threads() == 2
    assert set_threads_calls == [2]


def test_threads_default_leaves_torch_alone(set_threads_calls, monkeypatch):
    monkeypatch.delenv(settings.THREADS_ENV, raising=False)
    assert configure_threads() == torch.get_num_threads()
    assert set_threads_calls == []


@pytest.mark.parametrize(
    ("n", "env", "message"),
    [
        (0, None, "at least 1"),
        (-2, None, "at least 1"),
        (None, "two", "S2S_THREADS='two' is not an integer"),
        (None, "0", "at least 1"),
    ],
)
def test_bad_thread_counts(set_threads_calls, monkeypatch, n, env, message):
    monkeypatch.delenv(settings.THREADS_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(settings.THREADS_ENV, env)
    with pytest.raises(ConfigError, match=message):
        configure_threads(n)
    assert set_threads_calls == []


# --- RuntimeFlags -----------------------------------------------------------------------------------


def test_cpu_flags_are_all_off():
    flags = RuntimeFlags.for_device(torch.device("cpu"))
    assert flags.as_dict() == {
        "device": "cpu",
        "autocast_bf16": False,
        "channels_last": False,
        "pin_memory": False,
        "non_blocking": False,
        "cudnn_benchmark": False,
    }


def test_cpu_flags_change_nothing(monkeypatch):
    flags = RuntimeFlags.for_device(torch.device("cpu"))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    flags.apply_global()
    assert torch.backends.cudnn.benchmark is False
    with flags.autocast():
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    x = torch.rand(2, 3, 8, 8)
    y = flags.to_device(x)
    assert y.device.type == "cpu" and y.is_contiguous() and torch.equal(x, y)
    conv = flags.prepare_model(torch.nn.Conv2d(3, 4, 3))
    assert conv.weight.is_contiguous()


def test_cuda_flags_all_on(fake_gpus):
    fake_gpus(1, bf16=True)
    flags = RuntimeFlags.for_device(torch.device("cuda", 0))
    assert flags.as_dict() == {
        "device": "cuda:0",
        "autocast_bf16": True,
        "channels_last": True,
        "pin_memory": True,
        "non_blocking": True,
        "cudnn_benchmark": True,
    }


def test_cuda_flags_follow_settings_and_hardware(fake_gpus):
    fake_gpus(1, bf16=True)
    cuda = torch.device("cuda", 0)
    assert RuntimeFlags.for_device(cuda, amp=False).autocast_bf16 is False
    off = RuntimeFlags.for_device(cuda, channels_last=False)
    assert (off.channels_last, off.pin_memory, off.cudnn_benchmark) == (False, True, True)
    fake_gpus(1, bf16=False)  # e.g. a GPU without bf16: no autocast, the other flags stay
    no_bf16 = RuntimeFlags.for_device(cuda)
    assert (no_bf16.autocast_bf16, no_bf16.channels_last, no_bf16.non_blocking) == (False, True, True)


def test_as_dict_is_json_and_rebuilds_the_flags(fake_gpus):
    fake_gpus(2)
    flags = RuntimeFlags.for_device(torch.device("cuda", 1), amp=False)
    record = json.loads(json.dumps(flags.as_dict()))  # what a run manifest stores
    assert list(record) == FIELDS
    assert RuntimeFlags(**record) == flags
    with pytest.raises(dataclasses.FrozenInstanceError):
        flags.channels_last = False  # type: ignore[misc]


def test_enabled_flags_act_on_tensors_and_models(monkeypatch):
    # Flags built by hand so that their effect can be seen on the CPU.
    flags = RuntimeFlags(
        device="cpu",
        autocast_bf16=False,
        channels_last=True,
        pin_memory=False,
        non_blocking=False,
        cudnn_benchmark=True,
    )
    x = torch.rand(2, 3, 8, 8)
    y = flags.to_device(x)
    assert y.is_contiguous(memory_format=torch.channels_last) and torch.equal(x, y)
    v = torch.rand(3, 8, 8)
    assert flags.to_device(v).is_contiguous()  # only 4-D batches change layout
    conv = flags.prepare_model(torch.nn.Conv2d(3, 4, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    flags.apply_global()
    assert torch.backends.cudnn.benchmark is True


def test_autocast_context_is_bf16_on_cuda_only():
    on = RuntimeFlags(
        device="cuda:0",
        autocast_bf16=True,
        channels_last=True,
        pin_memory=True,
        non_blocking=True,
        cudnn_benchmark=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that CUDA is not available here
        ctx = on.autocast()
    assert isinstance(ctx, torch.autocast)
    assert (ctx.device, ctx.fast_dtype) == ("cuda", torch.bfloat16)
    off = dataclasses.replace(on, autocast_bf16=False)
    assert not isinstance(off.autocast(), torch.autocast)
