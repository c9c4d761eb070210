"""pymesos_rt: a Python distributed compute runtime with Ray's API on Apache Mesos's design.

    import pymesos_rt as rt

    rt.init()                      # an embedded cluster sized to this machine

    @rt.remote
    def square(x):
        return x * x

    print(rt.get([square.remote(i) for i in range(4)]))   # [0, 1, 4, 9]

This module holds the public API only; see docs/ for the architecture.
"""

from pymesos_rt.api import (
    ClusterInfo,
    as_completed,
    available_resources,
    cancel,
    cluster_resources,
    get,
    init,
    is_initialized,
    nodes,
    put,
    remote,
    shutdown,
    wait,
)
from pymesos_rt.client.futures import Executor
from pymesos_rt.client.refs import ObjectRef
from pymesos_rt.client.remote_function import RemoteFunction
from pymesos_rt.errors import (
    ExecutorLostError,
    GetTimeoutError,
    NodeLostError,
    ObjectLostError,
    ObjectStoreFullError,
    OutOfMemoryError,
    PymesosRTError,
    RuntimeNotInitializedError,
    SerializationError,
    TaskCancelledError,
    TaskError,
    UnschedulableError,
)

__version__ = "0.1.0"

__all__ = [
    "ClusterInfo",
    "Executor",
    "ExecutorLostError",
    "GetTimeoutError",
    "NodeLostError",
    "ObjectLostError",
    "ObjectRef",
    "ObjectStoreFullError",
    "OutOfMemoryError",
    "PymesosRTError",
    "RemoteFunction",
    "RuntimeNotInitializedError",
    "SerializationError",
    "TaskCancelledError",
    "TaskError",
    "UnschedulableError",
    "as_completed",
    "available_resources",
    "cancel",
    "cluster_resources",
    "get",
    "init",
    "is_initialized",
    "nodes",
    "put",
    "remote",
    "shutdown",
    "wait",
]
