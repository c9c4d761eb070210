"""pymesos_rt: a Python distributed compute runtime with Ray's API on Apache Mesos's design.

    import pymesos_rt as rt

    rt.init()                      # an embedded cluster sized to this machine

    @rt.remote
    def square(x):
        return x * x

    print(rt.get([square.remote(i) for i in range(4)]))   # [0, 1, 4, 9]

This module holds the public API only; see docs/ for the architecture.
"""

from pymesos_rt import exceptions, util  # util's names import lazily (rt.util.ActorPool)
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
    progress,
    put,
    remote,
    shutdown,
    wait,
)
from pymesos_rt.client.actor import (
    ActorClass,
    ActorHandle,
    exit_actor,
    get_actor,
    kill,
    method,
)
from pymesos_rt.client.futures import Executor
from pymesos_rt.client.generators import DynamicObjectRefGenerator, ObjectRefGenerator
from pymesos_rt.client.refs import ObjectRef
from pymesos_rt.client.remote_function import RemoteFunction
from pymesos_rt.client.runtime_context import get_gpu_ids, get_runtime_context
from pymesos_rt.errors import (
    ActorDiedError,
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
    "ActorClass",
    "ActorDiedError",
    "ActorHandle",
    "ClusterInfo",
    "DynamicObjectRefGenerator",
    "Executor",
    "ExecutorLostError",
    "GetTimeoutError",
    "NodeLostError",
    "ObjectLostError",
    "ObjectRef",
    "ObjectRefGenerator",
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
    "exceptions",
    "exit_actor",
    "get",
    "get_actor",
    "get_gpu_ids",
    "get_runtime_context",
    "init",
    "is_initialized",
    "kill",
    "method",
    "nodes",
    "progress",
    "put",
    "remote",
    "shutdown",
    "util",
    "wait",
]
