"""Executors: where the chunk tasks of a step run.

* ``local``: in this process, one chunk after the other.
* ``dask``: each chunk is a task on a Dask cluster: a running scheduler (``executor.address`` or
  ``--scheduler``), a ``dask_jobqueue.SLURMCluster`` (``executor.slurm``), or a ``LocalCluster`` of
  worker processes (``executor.n_workers`` × ``threads_per_worker``, on ``executor.host``,
  loopback by default). Workers must see the run directory (a shared filesystem on clusters).

Chunks are seeded by (seed, chunk index) and written by the task itself, so which worker runs a
chunk, and in which order, does not change the results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm
from typing_extensions import Self

from molgen.errors import MolgenError
from molgen.pipeline.schema import ExecutorConfig

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs tasks in this process, in order."""

    name = "local"
    in_process = True

    def map(self, fn: Callable, tasks: Sequence, bar: tqdm | None = None) -> Iterator[Any]:
        """Yield ``fn(task)`` for each task; an exception stops the step."""
        for task in tasks:
            res = fn(task)
            if bar is not None:
                bar.update()
            yield res

    def describe(self) -> dict:
        return {"name": self.name}

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DaskExecutor:
    """Runs tasks on a Dask cluster (see the module docstring); closes what it started."""

    name = "dask"
    in_process = False

    def __init__(self, config: ExecutorConfig, address: str | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MolgenError("the dask executor needs dask.distributed: pip install 'molgen[distributed]'") from None
        self.cluster = None
        address = address or config.address
        if address:
            self.kind = f"scheduler {address}"
            try:
                self.client = Client(address, timeout="30s")
            except (OSError, TimeoutError) as err:
                raise MolgenError(f"cannot reach the Dask scheduler at {address}: {' '.join(str(err).split())[:200]}"
                                  ) from None
        elif config.slurm is not None:
            try:
                from dask_jobqueue import SLURMCluster
            except ImportError:
                raise MolgenError("executor.slurm needs dask-jobqueue: pip install 'molgen[distributed]'") from None
            kw = config.slurm.model_dump(exclude={"jobs"}, exclude_none=True)
            self.cluster = SLURMCluster(**kw)
            self.cluster.scale(jobs=config.slurm.jobs)
            self.kind = f"SLURMCluster ({config.slurm.jobs} jobs)"
            self.client = Client(self.cluster)
        else:
            threads = str(config.threads_per_worker)
            self.cluster = LocalCluster(
                n_workers=config.n_workers, threads_per_worker=config.threads_per_worker, processes=True,
                host=config.host, dashboard_address=":0", silence_logs=logging.WARNING,  # on host, any free port
                env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads},
            )
            self.kind = f"LocalCluster ({config.n_workers} processes x {config.threads_per_worker} threads)"
            self.client = Client(self.cluster)
        log.info("dask executor: %s, dashboard %s", self.kind, self.client.dashboard_link)

    def map(self, fn: Callable, tasks: Sequence, bar: tqdm | None = None) -> Iterator[Any]:
        """Submit every task, yield results as they complete; the first exception cancels the rest."""
        from distributed import as_completed

        futures = [self.client.submit(fn, t, pure=False, key=f"{t.step.name}-{t.k:05d}-{t.fingerprint[:8]}")
                   for t in tasks]
        try:
            for fut in as_completed(futures):
                res = fut.result()  # re-raises the task's exception here
                if bar is not None:
                    bar.update()
                yield res
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def describe(self) -> dict:
        return {"name": self.name, "cluster": self.kind, "scheduler": self.client.scheduler.address}

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_executor(config: ExecutorConfig, name: str | None = None, address: str | None = None):
    """The executor named ``name`` (default ``config.name``)."""
    name = name or config.name
    if name == "local":
        return LocalExecutor()
    if name == "dask":
        return DaskExecutor(config, address)
    raise MolgenError(f"unknown executor {name!r}; known: local, dask")
