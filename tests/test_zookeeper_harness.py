"""Fast tests of the ZooKeeper harness (pymesos_rt.testing.zookeeper) that start no server."""

from __future__ import annotations

import re

import pytest

from pymesos_rt.testing import zookeeper as harness


def test_missing_java_fails_with_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA", str(tmp_path / "no-java-here"))
    with pytest.raises(harness.ZooKeeperNotInstalled, match="apt-get install -y zookeeper"):
        harness.find_java()
    server = harness.ZooKeeperServer(tmp_path)
    with pytest.raises(harness.ZooKeeperNotInstalled):
        server.start()
    assert not server.running


def test_missing_jar_fails_with_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(harness, "CLASSPATH", (tmp_path / "zookeeper.jar",))
    with pytest.raises(harness.ZooKeeperNotInstalled, match=r"zookeeper\.jar not found"):
        harness.find_java()


def test_unique_chroot_and_urls(tmp_path):
    a, b = harness.unique_chroot(), harness.unique_chroot()
    assert a != b and re.fullmatch(r"/pymesos-rt-test-[0-9a-f]{8}", a)
    server = harness.ZooKeeperServer(tmp_path, port=2999)
    assert server.url("/x") == "zk://127.0.0.1:2999/x"
    ensemble = harness.ZooKeeperEnsemble(tmp_path, size=3)
    assert ensemble.url("/x").count("127.0.0.1:") == 3


def test_four_letter_word_to_a_closed_port_raises():
    with pytest.raises(OSError):
        harness.four_letter_word(harness.free_port(), timeout=0.2)
