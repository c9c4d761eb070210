"""The agent: node resources, registration, the executor launcher, containers, status updates.

Imports ``protocol`` and ``transport``; never another daemon.
"""
