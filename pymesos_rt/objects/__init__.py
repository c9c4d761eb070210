"""The object store: a shared-memory arena per agent, pulled between agents over TCP.

- ``allocator``: byte ranges of the arena (pure).
- ``core``: the store's sans-IO core: objects, states, pins (pure); ``records`` its states and
  effects, ``room`` the making of room (the queue of creates and restores waiting for it, what
  to drop or spill), ``backing`` what is backed with memory, ``leases`` the arena space it
  leases to clients, ``checks`` its invariants (``validate()``).
- ``layout``: how a value lies in the arena (pickle protocol 5, out-of-band buffers).
- ``arena``: the shared memory itself (a memfd, mapped once per process).
- ``service``: the agent's shell around the core: unix socket for its node, TCP for others;
  ``peers`` pulls from other agents' stores.
- ``client``, ``access``, ``placing``, ``stores``: what executors and drivers use to create
  (in leases of arena space), read and free objects.

The package imports ``protocol``, ``serialization`` and ``transport.auth`` only: no daemon.
"""
