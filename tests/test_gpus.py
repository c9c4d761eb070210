"""An agent's GPUs: finding them, what it offers, and which devices each executor holds."""

from __future__ import annotations

import pytest

from pymesos_rt.agent import gpus
from pymesos_rt.agent.containers.cgroups_v1 import gpu_deny_rules
from pymesos_rt.protocol.resources import Resources

R = Resources

SMI = """GPU 0: Tesla T4 (UUID: GPU-8a1d2c3e-0000-1111-2222-333344445555)
GPU 1: Tesla T4 (UUID: GPU-9b2e3d4f-0000-1111-2222-333344445555)
"""


def test_nvidia_smi_output_is_parsed():
    assert gpus.parse_smi(SMI) == [0, 1]
    assert gpus.parse_smi("No devices were found\n") == []


def test_device_flags():
    assert gpus.parse_devices("1, 0") == [0, 1]
    for bad in ("a", "0,0", "", "-1"):
        with pytest.raises(ValueError, match="GPU"):
            gpus.parse_devices(bad)


def test_which_devices_are_offered():
    plain = R(cpus=4)
    assert gpus.devices_for(R(cpus=4, gpus=2), None, []) == [0, 1]  # --resources gpus:2
    assert gpus.devices_for(plain, [2, 3], []) == [2, 3]  # --gpu-devices 2,3
    assert gpus.devices_for(plain, None, [0, 1, 2]) == [0, 1, 2]  # found
    assert gpus.devices_for(R(gpus=1), None, [0, 1, 2]) == [0]  # found, but offer one
    assert gpus.devices_for(plain, None, []) == []
    assert gpus.with_gpus(R(cpus=4, gpus=7), [2, 3]) == R(cpus=4, gpus=2)
    assert gpus.with_gpus(R(cpus=4, gpus=7), []) == R(cpus=4)


def test_whole_gpus_take_free_devices_lowest_first():
    devices = gpus.GpuSet([0, 1, 2])
    assert devices.allocate(2) == [0, 1]
    assert devices.allocate(0) == []
    with pytest.raises(OSError, match="2 whole GPU"):
        devices.allocate(2)
    devices.release([0, 1], 2)
    assert devices.allocate(3) == [0, 1, 2]


def test_fractions_share_a_device_and_pack():
    devices = gpus.GpuSet([0, 1])
    assert devices.allocate(0.5) == [0]
    assert devices.allocate(0.25) == [0]  # the fullest device that still has room
    assert devices.allocate(0.5) == [1]
    assert devices.allocate(0.25) == [0]
    with pytest.raises(OSError, match="whole GPU"):
        devices.allocate(1)  # no device is whole any more
    devices.release([0], 0.25)
    devices.release([0], 0.25)
    devices.release([0], 0.5)
    assert devices.allocate(1) == [0]
    with pytest.raises(OSError, match="whole devices"):
        devices.allocate(1.5)


def test_devices_cgroup_denies_the_gpus_a_container_does_not_hold():
    assert gpu_deny_rules([], [0, 1]) == ["c 195:0 rwm", "c 195:1 rwm"]
    assert gpu_deny_rules([1], [0, 1, 2]) == ["c 195:0 rwm", "c 195:2 rwm"]
    assert gpu_deny_rules([0, 1], [0, 1]) == []
