"""The framework side of a user program: the task queue and placement core, the object table,
and the driver (the I/O shell that talks to the master and to executors).

Imports ``protocol``, ``transport`` and ``serialization``; never another daemon.
"""
