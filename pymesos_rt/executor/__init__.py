"""The executor: a worker process that connects straight to its driver and runs a stream of
pickled callables, reporting results, errors (with tracebacks) and printed output.

Imports ``protocol``, ``transport``, ``serialization``, ``errors`` and ``client`` (for nested
calls); never another daemon.
"""
