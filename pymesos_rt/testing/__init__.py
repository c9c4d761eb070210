"""A public test kit: start real daemons (masters, agents) as processes and drive them
(:mod:`.daemons`), and throwaway ZooKeeper servers and ensembles on loopback (:mod:`.zookeeper`).

Used by this project's integration tests and meant for users who test code on pymesos_rt.
"""
