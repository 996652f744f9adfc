"""Batching of cached datasets for training: size-bucketed, atom-capped, deterministic, resumable.

The batch order of an epoch depends only on (seed, epoch), so a run resumed mid-epoch replays the
same order and skips the batches it had already done. Under DDP every rank takes an equal share
of the epoch's batches (rank r takes batches r, r + W, ...), so no rank waits on another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import ConcatDataset, DataLoader, Sampler, Subset
from torch_geometric.data import Batch, Data

from molgen.data.cache import MoleculeCache
from molgen.errors import MolgenError


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-size graphs, capped by graph count and (optionally) by total atoms.

    Args:
        num_atoms: [L] long, atom count of each dataset item.
        batch_size: most graphs per batch.
        max_atoms: most atoms per batch, or None.
        shuffle: shuffle within size buckets and shuffle the batch order (seeded by epoch).
        seed: base seed.
        bucket_width: graphs are sorted by size inside windows of ``bucket_width × batch_size``
            shuffled items, which keeps batches homogeneous in size but still random.
    """

    def __init__(
        self,
        num_atoms: torch.Tensor,
        batch_size: int,
        max_atoms: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        bucket_width: int = 50,
    ) -> None:
        self.num_atoms = num_atoms.long()
        self.batch_size = batch_size
        self.max_atoms = max_atoms
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_width = bucket_width
        self.epoch = 0
        self.skip = 0  # batches of the current epoch already consumed (set on mid-epoch resume)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of each epoch."""
        self.epoch = epoch

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """All batches of one epoch, before sharding across ranks."""
        n = len(self.num_atoms)
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        window = self.bucket_width * self.batch_size
        batches: list[list[int]] = []
        for w in range(0, n, window):
            chunk = order[w : w + window]
            chunk = chunk[torch.argsort(self.num_atoms[chunk], stable=True)]
            cur: list[int] = []
            atoms = 0
            for idx, size in zip(chunk.tolist(), self.num_atoms[chunk].tolist()):
                full = len(cur) >= self.batch_size or (self.max_atoms is not None and atoms + size > self.max_atoms)
                if cur and full:
                    batches.append(cur)
                    cur, atoms = [], 0
                cur.append(idx)
                atoms += size
            if cur:
                batches.append(cur)
        if self.shuffle:
            perm = torch.randperm(len(batches), generator=g).tolist()
            batches = [batches[i] for i in perm]
        return batches

    def _rank_batches(self) -> list[list[int]]:
        rank, world = _dist()
        batches = self.epoch_batches(self.epoch)
        per_rank = len(batches) // world if world > 1 else len(batches)
        return batches[rank::world][:per_rank]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._rank_batches()
        skip, self.skip = self.skip, 0  # a resume skips once
        yield from batches[skip:]

    def __len__(self) -> int:
        return len(self._rank_batches())


def collate_graphs(items: list, transform: Callable[[Data], Data] | None = None) -> Batch:
    """PyG batching; pocket tensors get their own ``pocket_pos_batch`` index.

    ``transform`` (applied to every item first) turns complexes into ligand + pocket-context graphs
    for pocket models (``data.context: pocket``, :class:`molgen.data.transforms.PocketTransform`).
    """
    if transform is not None:
        reseed = getattr(transform, "reseed", None)
        if reseed is not None:  # augmentations that depend only on this batch (exact resume)
            reseed(items)
        items = [transform(item) for item in items]
    follow = ["pocket_pos"] if "pocket_pos" in items[0] else None
    return Batch.from_data_list(items, follow_batch=follow)


class MoleculeDataModule(L.LightningDataModule):
    """Train/val loaders over prepared caches.

    Args:
        train: cache directory of the training split.
        val: cache directory of the validation split, or None.
        batch_size: graphs per batch per device.
        max_atoms: cap on atoms per batch, or None.
        num_workers: DataLoader worker processes.
        seed: batch-order seed.
        limit_train, limit_val: use only the first N graphs (smoke runs).
        transform, val_transform: applied to each training / validation item before batching.
        extra_train: more caches whose graphs join every training epoch (same vocabulary as
            ``train``; the statistics stay ``train``'s).
        train_repeat: times each epoch lists the ``train`` graphs (their weight against ``extra_train``).

    Raises:
        MolgenError: an extra cache with another vocabulary.
    """

    def __init__(
        self,
        train: Path,
        val: Path | None = None,
        batch_size: int = 64,
        max_atoms: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        limit_train: int | None = None,
        limit_val: int | None = None,
        transform: Callable[[Data], Data] | None = None,
        val_transform: Callable[[Data], Data] | None = None,
        extra_train: list[Path] | tuple[Path, ...] = (),
        train_repeat: int = 1,
    ) -> None:
        super().__init__()
        self.train_path, self.val_path = Path(train), (Path(val) if val else None)
        self.batch_size, self.max_atoms = batch_size, max_atoms
        self.num_workers, self.seed = num_workers, seed
        self.limit_train, self.limit_val = limit_train, limit_val
        self.transform, self.val_transform = transform, val_transform
        self.train_set = MoleculeCache(self.train_path)
        self.val_set = MoleculeCache(self.val_path) if self.val_path else None
        base_sizes = self.train_set.num_atoms()[:limit_train]  # [:None] keeps all
        base = self.train_set if not limit_train else Subset(self.train_set, range(len(base_sizes)))
        parts, sizes = [base] * train_repeat, [base_sizes] * train_repeat
        for path in extra_train:
            extra = MoleculeCache(path)
            if extra.vocab != self.train_set.vocab:
                raise MolgenError(f"extra training data uses vocabulary {extra.vocab.name!r}, "
                                  f"data.train uses {self.train_set.vocab.name!r}", path)
            parts.append(extra)
            sizes.append(extra.num_atoms())
        self._train_data = parts[0] if len(parts) == 1 else ConcatDataset(parts)
        self._train_sizes = torch.cat(sizes)
        self.train_sampler = BucketBatchSampler(self._train_sizes, batch_size, max_atoms, shuffle=True, seed=seed)

    @property
    def stats(self) -> dict:
        return self.train_set.stats

    @property
    def vocab(self):
        return self.train_set.vocab

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self._train_data, batch_sampler=self.train_sampler, collate_fn=partial(collate_graphs, transform=self.transform),
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        n = len(self.val_set) if not self.limit_val else min(self.limit_val, len(self.val_set))
        sizes = self.val_set.num_atoms()[:n]
        sampler = BucketBatchSampler(sizes, self.batch_size, self.max_atoms, shuffle=False)
        return DataLoader(Subset(self.val_set, range(n)), batch_sampler=sampler,
                          collate_fn=partial(collate_graphs, transform=self.val_transform),
                          num_workers=self.num_workers)

    def batches_per_epoch(self) -> int:
        return len(self.train_sampler)
