"""A public test kit: start real daemons (masters, agents) as processes and drive them.

Used by this project's integration tests and meant for users who test code on pymesos_rt.
"""
