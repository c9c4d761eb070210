"""``rt.util.dask.get``: a Dask scheduler that runs a Dask graph as pymesos_rt tasks.

    import dask
    dask.compute(x, scheduler=rt.util.dask.get)      # or dask.config.set(scheduler=...)

Each Dask task becomes one task of ours; its dependencies are passed as ``ObjectRef``
arguments, so they are resolved on the executor that runs it (never through this process),
and large intermediate results stay in the object store. ``dask.bag``, ``dask.array`` and
``dask.dataframe`` work unchanged. Needs ``dask`` (the ``dask`` extra).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from graphlib import TopologicalSorter
from typing import Any

import pymesos_rt as rt


def _run(node: Any, dep_keys: list[Hashable], *dep_values: Any) -> Any:
    """One Dask task, with the values of its dependencies."""
    return node(dict(zip(dep_keys, dep_values, strict=True)))


_run_remote = rt.remote(_run)


def get(dsk: Any, keys: Any, **kwargs: Any) -> Any:
    """Compute ``keys`` (a key, or nested lists of keys) of the graph ``dsk`` (a mapping, or
    anything with ``__dask_graph__``) on the cluster;
    the results come back in the same nesting, as Dask's schedulers do. ``ray_remote_args``
    (or ``remote_args``) are ``.options()`` for every task."""
    from dask._task_spec import DataNode, convert_legacy_graph

    options = kwargs.get("remote_args") or kwargs.get("ray_remote_args") or {}
    runner = _run_remote.options(**options) if options else _run_remote
    if not isinstance(dsk, Mapping):  # an expression (dask.dataframe, dask.array)
        dsk = dsk.__dask_graph__()
    graph = convert_legacy_graph(dsk)
    order = TopologicalSorter({k: node.dependencies for k, node in graph.items()})
    refs: dict[Hashable, rt.ObjectRef] = {}
    for key in order.static_order():
        node = graph[key]
        if isinstance(node, DataNode):  # a literal: stored once, not computed
            refs[key] = rt.put(node.value)
            continue
        deps = sorted(node.dependencies, key=str)
        refs[key] = runner.remote(node, deps, *(refs[d] for d in deps))
    wanted = list(_flatten(keys))
    values = dict(zip(wanted, rt.get([refs[k] for k in wanted]), strict=True))
    return _nest(keys, values)


def _flatten(keys: Any) -> Any:
    if isinstance(keys, list):
        for key in keys:
            yield from _flatten(key)
    else:
        yield keys


def _nest(keys: Any, values: Mapping[Hashable, Any]) -> Any:
    if isinstance(keys, list):
        return [_nest(k, values) for k in keys]
    return values[keys]


__all__ = ["get"]
