"""The master: cluster state (sans-IO core), offers, the allocator, and the server shell.

Imports ``protocol`` and ``transport``; never another daemon.
"""
