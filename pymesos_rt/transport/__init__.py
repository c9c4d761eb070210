"""Connections between the pieces: one interface, two implementations.

``inproc`` links two endpoints in one event loop (the embedded cluster's master, agent and
driver); ``websocket`` is the only tornado client/server code. ``auth`` holds the handshake proof.
"""
