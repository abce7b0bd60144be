"""Labelled image folders and endless, shardable, resumable image streams (Sec. 3.2).

Sec. 3.2 trains A_S on YFCC100m (~92 million photos) where "the concept of training step or epoch does
not apply": each image is seen about once. The streams here serve that regime without holding an index
of the collection in memory:

- :class:`FlatFolderStream`: every image file under a folder (recursive). The file list is kept (one path
  per image); each pass visits all files in a new seeded permutation (a full shuffle, which is better
  than a buffer when the list is in memory anyway).
- :class:`TarShardStream`: image members of ``.tar`` shards (optionally gzip/bz2/xz) read strictly
  sequentially (``tarfile`` mode ``r|*``), so a 100-million-image collection needs only the shard list.
  Each pass reads the shards in a new seeded order; members are shuffled by a seeded buffer of
  ``shuffle_buffer`` encoded images that is emptied at the end of every shard.

Both yield float tensors ``(3, S, S)`` in [0, 1]: each photo is decoded (JPEG at reduced scale when that
is enough, see :func:`load_image`'s ``draft``), cut by :func:`random_resized_crop` (``crop="random"``,
default) or :func:`resize_center_crop` (``crop="center"``), turned into a tensor and passed through the
optional ``transform`` (e.g. :class:`~s2s_core.data.augment.Augment`). They are infinite by default
(``infinite=False``: one pass per ``iter()``, the next ``iter()`` starts the next pass).

**Sharding.** Work is split over ``slots = world_size × num_workers`` (rank and world size from the
arguments, else from ``torch.distributed`` when initialised; worker id from ``get_worker_info()``), slot
``rank × num_workers + worker``. Folders: slot k takes every ``slots``-th file of the pass order. Shards:
slot k takes every ``slots``-th shard of the pass order when there are at least ``slots`` shards, otherwise
every shard is read by every slot and slot k keeps every ``slots``-th image member. Slots never overlap.

**Resuming.** ``state_dict()`` returns ``{"pass", "position", ...}``: the pass number and how many items
of this slot's share of the pass were consumed (skipped ones included). ``load_state_dict`` makes the
next ``iter()`` continue exactly where the saved one stopped, with the same crops and augmentations (the
randomness of an item depends only on seed, pass and item identity). The state is tracked in the object
that iterates: exact with ``DataLoader(num_workers=0)``; with worker processes each worker holds its own
copy, so save states from a loop that iterates the stream in the main process, or resume approximately.

**Unreadable images** (damaged, truncated, too large, not an image) are skipped, counted in ``.skipped``
and logged as a warning; never fatal. Non-image members of shards (``.json``, ``.txt`` ...) are counted
in ``.ignored``. A full pass that yields nothing raises :class:`ConfigError` instead of looping forever.

:class:`LabelledImageFolder` (alias ``ImageFolderDataset``) is map-style, for the labelled data of the
fine-tuning and evaluation of Sec. 3.3: by default an unreadable file is skipped by *trying the next
index* (so the default collate works), remembered, and counted in ``.skipped``; with ``on_error="none"``
it yields ``None`` instead, which :func:`collate_skip_none` drops.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset, IterableDataset, default_collate, get_worker_info

from s2s_core.data.augment import Augment
from s2s_core.data.class_names import ClassNames
from s2s_core.data.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageSource,
    image_to_tensor,
    is_image_name,
    load_image,
    random_resized_crop,
    resize_center_crop,
)
from s2s_core.errors import ConfigError, ImageLoadError

log = logging.getLogger(__name__)

Transform = Callable[[torch.Tensor], torch.Tensor]


def _mix(*parts: object) -> int:
    """A stable 63-bit seed from any tuple of simple values (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _distributed(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
        rank, world_size = rank or 0, world_size or 1
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, world_size); got rank={rank}, world_size={world_size}")
    return rank, world_size


class _Sampler:
    """Encoded image -> ``(3, S, S)`` tensor: decode, crop, tensor, transform."""

    def __init__(self, size: int, crop: str, scale: tuple[float, float], ratio: tuple[float, float],
                 transform: Transform | None, max_pixels: int, draft: bool = True, resize: int | None = None) -> None:
        if not isinstance(size, int) or size < 1:
            raise ConfigError(f"size must be a positive integer, got {size!r}")
        if crop not in ("random", "center"):
            raise ConfigError(f"crop must be 'random' or 'center', got {crop!r}")
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ConfigError(f"scale must satisfy 0 < low <= high <= 1 (area fractions), got {scale}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ConfigError(f"ratio must satisfy 0 < low <= high, got {ratio}")
        self.size, self.crop, self.scale, self.ratio = size, crop, tuple(scale), tuple(ratio)
        if resize is not None and resize < size:
            raise ConfigError(f"resize ({resize}) must be at least the crop size ({size})")
        self.transform, self.max_pixels, self.resize = transform, max_pixels, resize
        # Smallest decode size that still gives the smallest random crop at least S pixels per side.
        shrink = 1.0 if crop == "center" else math.sqrt(scale[0] * min(ratio[0], 1 / ratio[1], 1.0))
        self.draft = (math.ceil(size / shrink),) * 2 if draft else None

    def __call__(self, source: ImageSource, generator: torch.Generator | None) -> torch.Tensor:
        image = load_image(source, max_pixels=self.max_pixels, draft=self.draft)
        if self.crop == "random":
            image = random_resized_crop(image, self.size, scale=self.scale, ratio=self.ratio, generator=generator)
        else:
            image = resize_center_crop(image, self.size, self.resize)
        x = image_to_tensor(image)
        if isinstance(self.transform, Augment):
            return self.transform(x, generator=generator)
        return self.transform(x) if self.transform is not None else x


def _item_generator(*identity: object) -> torch.Generator:
    return torch.Generator().manual_seed(_mix(*identity))


class LabelledImageFolder(Dataset):
    """Map-style ``(image (3, S, S) in [0, 1], label)`` pairs from a torchvision-ImageFolder layout.

    ``root/<class>/**/<image>``. Labels: with ``classes`` (a classifier's class names in label order, see
    :class:`~s2s_core.data.class_names.ClassNames`) each folder gets the label of the class it names (by
    WordNet id or name), and a folder the classifier does not know is a ConfigError naming it (``where`` says
    whose classes they are); with ``class_to_idx`` only those folders are used; with neither, the sorted
    folder names are the labels (only right for data whose classifier was trained in that order).
    ``crop="center"`` (default) is the evaluation crop of Table 1
    (shorter side to ``resize``, default ``size``, then the centre ``size × size``),
    ``crop="random"`` a :func:`random_resized_crop`. Random crops and augmentations draw from a generator seeded
    by ``(seed, epoch, index)`` (``set_epoch`` like a ``DistributedSampler``), so an item is the same whichever
    process or resumed run loads it. Unreadable files are
    counted in ``.skipped``; ``on_error="next"`` (default) returns the next readable index instead (works
    with the default collate; the stand-in appears twice in that pass), ``on_error="none"`` returns
    ``None`` for :func:`collate_skip_none` to drop (no duplicates; a batch may come out smaller, or ``None``).
    """

    def __init__(self, root: str | Path, size: int, transform: Transform | None = None, *,
                 class_to_idx: dict[str, int] | None = None, crop: str = "center",
                 scale: tuple[float, float] = (0.25, 1.0), max_pixels: int = DEFAULT_MAX_PIXELS,
                 on_error: str = "next", seed: int = 0, resize: int | None = None,
                 classes: ClassNames | Sequence[str] | None = None, where: str = "the classifier") -> None:
        self.root = Path(root)
        self.seed, self.epoch = int(seed), 0
        if not self.root.is_dir():
            raise ConfigError(f"image folder not found: {self.root}")
        if on_error not in ("next", "none"):
            raise ConfigError(f"on_error must be 'next' or 'none', got {on_error!r}")
        self.on_error = on_error
        if classes is not None and class_to_idx is not None:
            raise ConfigError("give classes or class_to_idx, not both")
        folders = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if classes is not None:
            class_to_idx = ClassNames.of(classes).label_map(folders, where)
        elif class_to_idx is None:
            class_to_idx = {name: i for i, name in enumerate(folders)}
        self.class_to_idx = dict(class_to_idx)
        self.classes = sorted(self.class_to_idx, key=self.class_to_idx.__getitem__)
        self.samples: list[tuple[str, int]] = []
        for name in sorted(self.class_to_idx):
            folder = self.root / name
            if folder.is_dir():
                files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p))
                self.samples += [(str(p), self.class_to_idx[name]) for p in files]
        if not self.samples:
            raise ConfigError(f"no image files in class subfolders of {self.root} (expected root/<class>/<image>)")
        self.targets = [label for _, label in self.samples]
        # Full-resolution decoding (no JPEG draft), so evaluation matches the usual resize + centre crop.
        self._sampler = _Sampler(size, crop, scale, (3 / 4, 4 / 3), transform, max_pixels, draft=False, resize=resize)
        self._bad: set[int] = set()

    @property
    def skipped(self) -> int:
        """Number of distinct unreadable files met so far (in this process)."""
        return len(self._bad)

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Use the random crops/augmentations of pass ``epoch`` (set it before the DataLoader is made)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        n = len(self.samples)
        for k in range(n):
            j = (index + k) % n
            if j in self._bad:
                if self.on_error == "none":
                    return None
                continue
            path, label = self.samples[j]
            try:
                return self._sampler(path, _item_generator(self.seed, "epoch", self.epoch, j)), label
            except ImageLoadError as exc:
                self._bad.add(j)
                log.warning("skipping unreadable image %s: %s", path, exc)
                if self.on_error == "none":
                    return None
        raise ImageLoadError(f"none of the {n} images under {self.root} could be read")


def collate_skip_none(batch: list) -> object:
    """``default_collate`` of the items that are not ``None`` (for ``on_error="none"``); ``None`` if none are left.

    With the default ``on_error="next"`` no item is ``None`` and this equals ``default_collate``.
    """
    kept = [item for item in batch if item is not None]
    return default_collate(kept) if kept else None


ImageFolderDataset = LabelledImageFolder


class _Stream(IterableDataset):
    """Shared pass/position bookkeeping, sharding and the skip policy of the two streams."""

    def __init__(self, size: int, *, transform: Transform | None, seed: int, infinite: bool, shuffle: bool,
                 rank: int | None, world_size: int | None, crop: str, scale: tuple[float, float],
                 ratio: tuple[float, float], max_pixels: int) -> None:
        super().__init__()
        self._sampler = _Sampler(size, crop, scale, ratio, transform, max_pixels)
        self.seed, self.infinite, self.shuffle = int(seed), infinite, shuffle
        self.rank, self.world_size = rank, world_size
        self.skipped = 0
        self.ignored = 0
        self._pass, self._position, self._cursor = 0, 0, (0, 0)
        self._slot = (0, 1)

    def _current_slot(self) -> tuple[int, int]:
        rank, world = _distributed(self.rank, self.world_size)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * workers + worker, world * workers

    def state_dict(self) -> dict:
        """``{"pass", "position", "shard", "in_shard", "seed", "slot", "slots", "skipped"}`` (plain ints)."""
        return {"pass": self._pass, "position": self._position, "shard": self._cursor[0],
                "in_shard": self._cursor[1], "seed": self.seed, "slot": self._slot[0], "slots": self._slot[1],
                "skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a :meth:`state_dict` at the next ``iter()``.

        A tar shard interrupted mid-way is re-read from its start (its first ``in_shard`` items are not
        decoded again); ``ignored`` and damaged-shard counts may therefore count that shard twice.
        """
        try:
            values = {k: int(state.get(k, 0)) for k in ("pass", "position", "shard", "in_shard", "skipped")}
            seed = int(state.get("seed", self.seed))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"stream state must map pass/position/... to integers, got {state!r}") from exc
        if any(v < 0 for v in values.values()):
            raise ConfigError(f"stream state values must be non-negative, got {values}")
        if seed != self.seed:
            raise ConfigError(f"stream state was saved with seed {state['seed']}, this stream has seed {self.seed}")
        self._pass, self._position = values["pass"], values["position"]
        self._cursor, self.skipped = (values["shard"], values["in_shard"]), values["skipped"]

    def _decode(self, source: ImageSource, label: str, *identity: object) -> torch.Tensor | None:
        try:
            return self._sampler(source, _item_generator(self.seed, "item", self._pass, *identity))
        except ImageLoadError as exc:
            self.skipped += 1
            log.warning("skipping unreadable image %s: %s", label, exc)
            return None

    def _iter_pass(self, slot: int, slots: int) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[torch.Tensor]:
        self._slot = self._current_slot()
        while True:
            fresh, produced = self._position == 0 and self._cursor == (0, 0), 0
            for x in self._iter_pass(*self._slot):
                produced += 1
                yield x
            self._pass, self._position, self._cursor = self._pass + 1, 0, (0, 0)
            if fresh and produced == 0:
                raise ConfigError(f"{type(self).__name__} slot {self._slot[0]} of {self._slot[1]} found no "
                                  f"readable images in a full pass ({self.skipped} skipped)")
            if not self.infinite:
                return


def stratified_sample(files: Sequence[str], root: str | Path, n: int, seed: int) -> list[str]:
    """``n`` of ``files`` (all when there are fewer), drawn at random with ``seed``, deterministically.

    Each top-level folder under ``root`` (a class of an ImageFolder tree; files directly in ``root`` form one
    group) gets its share of ``n`` in proportion to its size: the floors first, then one more for the
    largest remainders (ties in a seeded order). Within a group the files are a seeded random sample; the
    result is in a seeded random order, so that ranks taking every k-th file get a mix of groups.
    """
    if n >= len(files):
        chosen = list(files)
    else:
        groups: dict[str, list[str]] = {}
        for f in sorted(files):
            rel = Path(f).relative_to(root).parts
            groups.setdefault(rel[0] if len(rel) > 1 else "", []).append(f)
        names = sorted(groups)
        exact = {g: n * len(groups[g]) / len(files) for g in names}
        quota = {g: math.floor(exact[g]) for g in names}
        tie = random.Random(_mix(seed, "heldout-ties"))
        by_remainder = sorted(names, key=lambda g: (-(exact[g] - quota[g]), tie.random()))
        for g in by_remainder[:n - sum(quota.values())]:
            quota[g] += 1
        chosen = [f for g in names for f in random.Random(_mix(seed, "heldout", g)).sample(groups[g], quota[g])]
    random.Random(_mix(seed, "heldout-order")).shuffle(chosen)
    return chosen


class FlatFolderStream(_Stream):
    """Endless stream of ``(3, S, S)`` crops of every image under ``root`` (recursive); see module docs."""

    def __init__(self, root: str | Path, size: int, *, transform: Transform | None = None, seed: int = 0,
                 infinite: bool = True, shuffle: bool = True, rank: int | None = None,
                 world_size: int | None = None, crop: str = "random", scale: tuple[float, float] = (0.25, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        super().__init__(size, transform=transform, seed=seed, infinite=infinite, shuffle=shuffle, rank=rank,
                         world_size=world_size, crop=crop, scale=scale, ratio=ratio, max_pixels=max_pixels)
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"image folder not found: {self.root}")
        self.files = sorted(str(p) for p in self.root.rglob("*") if p.is_file() and is_image_name(p))
        if not self.files:
            raise ConfigError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) under {self.root}")

    def _iter_pass(self, slot: int, slots: int) -> Iterator[torch.Tensor]:
        order = list(range(len(self.files)))
        if self.shuffle:
            random.Random(_mix(self.seed, "folder", self._pass)).shuffle(order)
        mine = order[slot::slots]
        for k in range(self._position, len(mine)):
            x = self._decode(self.files[mine[k]], self.files[mine[k]], mine[k])
            self._position = k + 1
            if x is not None:
                yield x


def _expand_shards(shards: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(shards, (str, Path)):
        path = Path(shards)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if ".tar" in p.name)
        else:
            found = sorted(Path(p) for p in path.parent.glob(path.name)) if any(c in path.name for c in "*?[") \
                else [path]
    else:
        found = [Path(p) for p in shards]
    if not found:
        raise ConfigError(f"no .tar shards found for {shards!r}")
    missing = [str(p) for p in found if not p.is_file()]
    if missing:
        raise ConfigError(f"tar shard(s) not found: {', '.join(missing[:5])}")
    return found


class TarShardStream(_Stream):
    """Endless stream of ``(3, S, S)`` crops of the image members of tar shards; see module docs.

    ``shards``: a list of paths, a folder (all ``*.tar*`` inside) or a glob pattern.
    """

    def __init__(self, shards: str | Path | Sequence[str | Path], size: int, *,
                 transform: Transform | None = None, seed: int = 0, infinite: bool = True, shuffle: bool = True,
                 shuffle_buffer: int = 256, rank: int | None = None, world_size: int | None = None,
                 crop: str = "random", scale: tuple[float, float] = (0.25, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        super().__init__(size, transform=transform, seed=seed, infinite=infinite, shuffle=shuffle, rank=rank,
                         world_size=world_size, crop=crop, scale=scale, ratio=ratio, max_pixels=max_pixels)
        if shuffle_buffer < 0:
            raise ConfigError(f"shuffle_buffer must be >= 0, got {shuffle_buffer}")
        self.shards = _expand_shards(shards)
        self.shuffle_buffer = shuffle_buffer if shuffle else 0

    def _members(self, shard: int, slot: int, slots: int) -> Iterator[tuple[int, bytes, str]]:
        """``(member index, bytes, label)`` of this slot's image members of one shard, in file order."""
        path, count = self.shards[shard], 0
        try:
            with open(path, "rb") as fh, tarfile.open(fileobj=fh, mode="r|*") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    if not is_image_name(member.name):
                        self.ignored += 1
                        continue
                    index, count = count, count + 1
                    if index % slots != slot:
                        continue
                    fobj = tar.extractfile(member)
                    yield index, (fobj.read() if fobj is not None else b""), f"{path.name}:{member.name}"
        except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
            self.skipped += 1
            log.warning("tar shard %s is damaged after %d image members; going on with the next shard: %s",
                        path, count, exc)

    def _shuffled(self, items: Iterator[tuple[int, bytes, str]], shard: int) -> Iterator[tuple[int, bytes, str]]:
        if self.shuffle_buffer <= 1:
            yield from items
            return
        rng = random.Random(_mix(self.seed, "buffer", self._pass, shard))
        buffer: list[tuple[int, bytes, str]] = []
        for item in items:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(item)
                continue
            j = rng.randrange(len(buffer))
            buffer[j], item = item, buffer[j]
            yield item
        rng.shuffle(buffer)
        yield from buffer

    def _iter_pass(self, slot: int, slots: int) -> Iterator[torch.Tensor]:
        order = list(range(len(self.shards)))
        if self.shuffle:
            random.Random(_mix(self.seed, "shards", self._pass)).shuffle(order)
        if len(order) >= slots:  # whole shards per slot
            mine, member_slot, member_slots = order[slot::slots], 0, 1
        else:  # fewer shards than slots: every slot reads every shard and keeps its share of members
            mine, member_slot, member_slots = order, slot, slots
        start_shard, start_item = self._cursor
        for k in range(start_shard, len(mine)):
            shard = mine[k]
            skip = start_item if k == start_shard else 0
            members = self._shuffled(self._members(shard, member_slot, member_slots), shard)
            for e, (index, data, label) in enumerate(members):
                if e < skip:
                    continue  # replaying a resumed shard: already consumed, not decoded again
                x = self._decode(data, label, shard, index)
                self._cursor, self._position = (k, e + 1), self._position + 1
                if x is not None:
                    yield x
            self._cursor = (k + 1, 0)
