"""Labelled folders and the folder / tar-shard streams: skipping, sharding, passes, resuming."""

from __future__ import annotations

import io
import itertools
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from s2s_core.data.augment import Augment
from s2s_core.data.datasets import (
    FlatFolderStream,
    ImageFolderDataset,
    LabelledImageFolder,
    TarShardStream,
    collate_skip_none,
)
from s2s_core.errors import ConfigError

SIZE = 12


def _colour(i: int) -> tuple[int, int, int]:
    return (20 * (i % 12) + 10, 40 * (i // 12) + 10, 200 - 7 * i)


def _png(i: int, noisy: bool = False) -> bytes:
    arr = np.empty((20, 28, 3), dtype=np.uint8)
    arr[:] = _colour(i)
    if noisy:  # texture so that different crops give different tensors
        rng = np.random.default_rng(i)
        arr = np.clip(arr.astype(int) + rng.integers(-8, 9, arr.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _identity(x: torch.Tensor) -> int:
    """Which of the solid-colour test images a (centre-cropped) tensor came from."""
    rgb = (x.mean(dim=(1, 2)) * 255).round().int().tolist()
    return min(range(40), key=lambda i: sum(abs(a - b) for a, b in zip(rgb, _colour(i), strict=True)))


def _folder(root: Path, n: int, noisy: bool = False) -> Path:
    for i in range(n):
        sub = root / f"part{i % 3}" / ("deep" if i % 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"img{i:02d}.png").write_bytes(_png(i, noisy))
    (root / "notes.txt").write_text("not an image")
    (root / "part0" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return root


def _shard(path: Path, items: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _shards(root: Path, counts: list[int], noisy: bool = False) -> list[Path]:
    paths, i = [], 0
    for s, count in enumerate(counts):
        items = []
        for _ in range(count):
            items += [(f"{i:04d}.png", _png(i, noisy)), (f"{i:04d}.json", b'{"id": %d}' % i)]
            i += 1
        if s == 0:
            items.insert(1, ("corrupt.jpg", b"\xff\xd8\xff not really a jpeg"))
        paths.append(_shard(root / f"shard-{s:03d}.tar", items))
    return paths


def _ids(stream) -> list[int]:
    return [_identity(x) for x in stream]


def test_labelled_folder_skips_and_counts_unreadable(tmp_path: Path) -> None:
    for label, cls in enumerate(["cat", "ant", "bee"]):
        (tmp_path / cls).mkdir()
        for k in range(2):
            (tmp_path / cls / f"{k}.png").write_bytes(_png(3 * label + k))
    (tmp_path / "bee" / "zz_bad.png").write_bytes(b"garbage")
    (tmp_path / "bee" / "readme.txt").write_text("ignored")
    ds = LabelledImageFolder(tmp_path, SIZE)
    assert ds.classes == ["ant", "bee", "cat"] and ds.class_to_idx == {"ant": 0, "bee": 1, "cat": 2}
    assert len(ds) == 7 and ds.skipped == 0
    items = [ds[i] for i in range(len(ds))]
    assert ds.skipped == 1
    assert all(x.shape == (3, SIZE, SIZE) and x.min() >= 0 and x.max() <= 1 for x, _ in items)
    bad = [s for s, _ in ds.samples].index(str(tmp_path / "bee" / "zz_bad.png"))
    assert items[bad][1] == 2  # the next readable image (the first cat) stands in, with its own label
    assert _identity(items[0][0]) == 3 and items[0][1] == 0
    x, y = next(iter(DataLoader(ds, batch_size=7)))
    assert x.shape == (7, 3, SIZE, SIZE) and sorted(y.tolist()) == [0, 0, 1, 1, 2, 2, 2]
    given = ImageFolderDataset(tmp_path, SIZE, class_to_idx={"cat": 0, "ant": 1})
    assert len(given) == 4 and given.classes == ["cat", "ant"] and sorted(given.targets) == [0, 0, 1, 1]
    with pytest.raises(ConfigError, match="not found"):
        LabelledImageFolder(tmp_path / "nope", SIZE)


def test_labelled_folder_none_policy_with_collate_skip_none(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "0.png").write_bytes(_png(1 if cls == "a" else 2))
    (tmp_path / "a" / "1_bad.png").write_bytes(b"garbage")
    ds = LabelledImageFolder(tmp_path, SIZE, on_error="none")
    assert ds[1] is None and ds[1] is None and ds.skipped == 1
    x, y = next(iter(DataLoader(ds, batch_size=3, collate_fn=collate_skip_none)))
    assert x.shape == (2, 3, SIZE, SIZE) and y.tolist() == [0, 1]
    assert collate_skip_none([None, None]) is None
    with pytest.raises(ConfigError, match="on_error"):
        LabelledImageFolder(tmp_path, SIZE, on_error="skip")


def test_flat_folder_stream_recursive_finite_and_skips(tmp_path: Path) -> None:
    _folder(tmp_path, 8)
    stream = FlatFolderStream(tmp_path, SIZE, infinite=False, crop="center")
    ids = _ids(stream)
    assert sorted(ids) == list(range(8)) and stream.skipped == 1
    assert len(stream.files) == 9
    again = _ids(stream)  # next pass: a new order, same items
    assert sorted(again) == list(range(8)) and again != ids and stream.skipped == 2


def test_flat_folder_stream_is_infinite_and_seeded(tmp_path: Path) -> None:
    _folder(tmp_path, 5)
    ids = [_identity(x) for x in itertools.islice(FlatFolderStream(tmp_path, SIZE, seed=3), 12)]
    assert all(ids.count(i) >= 2 for i in range(5))
    same = [_identity(x) for x in itertools.islice(FlatFolderStream(tmp_path, SIZE, seed=3), 12)]
    assert ids == same


@pytest.mark.parametrize("kind", ["folder", "tar"])
def test_two_ranks_partition_the_items(tmp_path: Path, kind: str) -> None:
    def make(rank: int):
        if kind == "folder":
            return FlatFolderStream(_folder(tmp_path, 9) if rank == 0 else tmp_path, SIZE, infinite=False,
                                    rank=rank, world_size=2)
        shards = _shards(tmp_path, [3, 2, 4]) if rank == 0 else sorted(tmp_path.glob("*.tar"))
        return TarShardStream(shards, SIZE, infinite=False, rank=rank, world_size=2)

    a, b = _ids(make(0)), _ids(make(1))
    assert a and b and not set(a) & set(b)
    assert sorted(a + b) == list(range(9))


def test_tar_stream_reads_all_images_and_counts(tmp_path: Path) -> None:
    shards = _shards(tmp_path, [4, 3])
    stream = TarShardStream(shards, SIZE, infinite=False, shuffle_buffer=3)
    xs = list(stream)
    assert all(x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32 for x in xs)
    assert sorted(_identity(x) for x in xs) == list(range(7))
    assert stream.skipped == 1 and stream.ignored == 7
    assert sorted(_ids(TarShardStream(tmp_path, SIZE, infinite=False))) == list(range(7))  # a folder of shards
    assert len(_ids(TarShardStream(str(tmp_path / "shard-*.tar"), SIZE, infinite=False))) == 7  # a glob


def test_tar_stream_member_split_with_one_shard_and_damaged_shard(tmp_path: Path) -> None:
    (one,) = _shards(tmp_path, [7])
    a = _ids(TarShardStream([one], SIZE, infinite=False, rank=0, world_size=2))
    b = _ids(TarShardStream([one], SIZE, infinite=False, rank=1, world_size=2))
    assert not set(a) & set(b) and sorted(a + b) == list(range(7))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(one.read_bytes()[:3000])
    stream = TarShardStream([cut, one], SIZE, infinite=False, shuffle=False)
    assert sorted(set(_ids(stream))) == list(range(7))
    assert stream.skipped >= 3  # the corrupt member twice + the damaged shard
    with tarfile.open(tmp_path / "gz.tar.gz", "w:gz") as tar:
        tar.add(one, arcname="inner.tar")  # non-image member only
        info = tarfile.TarInfo("a.png")
        data = _png(5)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert _ids(TarShardStream([tmp_path / "gz.tar.gz"], SIZE, infinite=False)) == [5]


def test_dataloader_workers_split_the_stream(tmp_path: Path) -> None:
    shards = _shards(tmp_path, [2, 3, 2, 2])
    loader = DataLoader(TarShardStream(shards, SIZE, infinite=False), batch_size=None, num_workers=2)
    assert sorted(_identity(x) for x in loader) == list(range(9))


@pytest.mark.parametrize("kind", ["folder", "tar"])
def test_resume_reproduces_the_continuation(tmp_path: Path, kind: str) -> None:
    aug = Augment(seed=0, p=0.7)

    def make():
        if kind == "folder":
            return FlatFolderStream(tmp_path, SIZE, seed=5, transform=aug)
        return TarShardStream(sorted(tmp_path.glob("*.tar")), SIZE, seed=5, shuffle_buffer=3, transform=aug)

    if kind == "folder":
        _folder(tmp_path, 6, noisy=True)
    else:
        _shards(tmp_path, [4, 5], noisy=True)
    first = make()
    it = iter(first)
    head = [next(it) for _ in range(7)]
    state = first.state_dict()
    assert set(state) >= {"pass", "position"} and state["position"] >= 1
    tail = [next(it) for _ in range(9)]  # crosses into the next pass
    resumed = make()
    resumed.load_state_dict(state)
    again = list(itertools.islice(resumed, 9))
    assert all(torch.equal(a, b) for a, b in zip(tail, again, strict=True))
    assert not torch.equal(head[0], tail[0])
    assert resumed.state_dict()["pass"] == first.state_dict()["pass"] >= 1
    with pytest.raises(ConfigError, match="seed"):
        make().load_state_dict({**state, "seed": 6})
    with pytest.raises(ConfigError, match="integers"):
        make().load_state_dict({"pass": "x"})


def test_streams_reject_bad_setups(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ConfigError, match="no readable images"):
        next(iter(FlatFolderStream(tmp_path, SIZE)))
    with pytest.raises(ConfigError, match="no image files"):
        FlatFolderStream(_empty(tmp_path), SIZE)
    with pytest.raises(ConfigError, match="not found"):
        TarShardStream([tmp_path / "missing.tar"], SIZE)
    with pytest.raises(ConfigError, match="rank"):
        next(iter(FlatFolderStream(tmp_path, SIZE, rank=2, world_size=2)))
    with pytest.raises(ConfigError, match="crop"):
        FlatFolderStream(tmp_path, SIZE, crop="middle")
    with pytest.raises(ConfigError, match="scale"):
        TarShardStream(tmp_path, SIZE, scale=(0.5, 2.0))


def _empty(root: Path) -> Path:
    empty = root / "empty"
    empty.mkdir()
    return empty
