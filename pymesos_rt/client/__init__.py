"""The user-facing runtime: ``ObjectRef``, ``RemoteFunction``, the loop thread, and the
backends that serve the API in a driver (:mod:`.driver_backend`) or, inside an executor, the
executor's own backend (defined in ``pymesos_rt.executor``)."""
