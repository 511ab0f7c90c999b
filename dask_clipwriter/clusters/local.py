"""Local clusters: a distributed ``LocalCluster`` with worker processes on this machine."""

from __future__ import annotations


def make_local_cluster(
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | float | None = "auto",
    dashboard_address: str | None = ":0",
):
    """A started ``LocalCluster`` of worker processes (never threads in this process).

    ``None`` for ``n_workers``/``threads_per_worker`` lets distributed split the machine's
    cores; ``dashboard_address=":0"`` picks a free port (``None`` disables the dashboard).
    """
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        memory_limit="auto" if memory_limit is None else memory_limit,
        processes=True,
        dashboard_address=dashboard_address,
    )


__all__ = ["make_local_cluster"]
