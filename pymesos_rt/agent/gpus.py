"""The node's GPUs: finding them, and which devices each executor holds.

As in Mesos (``--resources gpus:N``, ``--nvidia_gpu_devices``), an agent offers ``gpus`` as a
scalar and picks the device indices itself when it launches an executor:

- Devices: ``--gpu-devices 0,1`` names them; else NVIDIA GPUs are found with NVML
  (``pynvml``, when installed) or ``nvidia-smi -L``; else ``--resources gpus:N`` (or
  ``rt.init(num_gpus=N)``) means devices ``0..N-1`` (this is how GPUs are tested on machines
  without any). Found devices with no ``gpus`` in ``--resources`` are all offered.
- Allocation: a whole number of GPUs takes that many free whole devices (lowest index
  first); a fraction below 1 shares one device with other fractions, as Ray's fractional
  ``num_gpus`` does (the fullest device that still has room, so fractions pack).
- The executor's environment gets ``CUDA_VISIBLE_DEVICES`` (and ``PYMESOS_RT_GPU_IDS``, what
  ``rt.get_gpu_ids()`` reports); with cgroups-v1 its ``devices`` cgroup allows only those
  ``/dev/nvidia<N>`` (``containers/cgroups_v1.py``).

No I/O but :func:`detect` (which runs ``nvidia-smi``); imports ``protocol`` only.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess

from pymesos_rt.protocol.resources import Resources

log = logging.getLogger(__name__)

GPUS = "gpus"
_EPSILON = 1e-6
_SMI_LINE = re.compile(r"^GPU (\d+):")


def parse_devices(text: str) -> list[int]:
    """``"0,1,3"`` -> ``[0, 1, 3]``; a clear ``ValueError`` for anything else."""
    devices: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part.isdigit():
            raise ValueError(f"GPU devices are indices such as 0,1 (got {text!r})")
        devices.append(int(part))
    if len(set(devices)) != len(devices):
        raise ValueError(f"GPU device listed twice in {text!r}")
    return sorted(devices)


def parse_smi(output: str) -> list[int]:
    """Device indices from ``nvidia-smi -L`` (``GPU 0: Tesla T4 (UUID: GPU-...)`` lines)."""
    return [int(m.group(1)) for line in output.splitlines() if (m := _SMI_LINE.match(line))]


def detect() -> list[int]:
    """The NVIDIA GPUs of this node (NVML, else ``nvidia-smi -L``); ``[]`` when there are none."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return list(range(int(pynvml.nvmlDeviceGetCount())))
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # not installed, or no driver
        pass
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("nvidia-smi -L failed (%s): no GPUs", exc)
        return []
    return parse_smi(out.stdout)


def devices_for(resources: Resources, named: list[int] | None, found: list[int]) -> list[int]:
    """Which devices the agent offers: named ones, else found ones, else ``0..gpus-1``."""
    if named is not None:
        return named
    wanted = resources.get(GPUS)
    if found:
        return found if wanted <= 0 else found[: int(wanted)]
    return list(range(int(wanted)))


def with_gpus(resources: Resources, devices: list[int]) -> Resources:
    """``resources`` offering exactly ``devices`` (``gpus`` set to their count)."""
    items = {k: v for k, v in resources.items() if k != GPUS}
    if devices:
        items[GPUS] = float(len(devices))
    return Resources(items)


class GpuSet:
    """What each device of the node has free (1.0 each when nothing runs)."""

    def __init__(self, devices: list[int]) -> None:
        self.free: dict[int, float] = dict.fromkeys(sorted(devices), 1.0)

    def allocate(self, amount: float) -> list[int]:
        """Devices for an executor of ``amount`` GPUs; raises ``OSError`` if they are not free
        (the master offered more than the devices hold: a bug, or devices taken by hand)."""
        if amount <= _EPSILON:
            return []
        if amount < 1 - _EPSILON:
            fits = [d for d, left in self.free.items() if left + _EPSILON >= amount]
            if not fits:
                raise OSError(f"no GPU has {amount:g} of a device free: {self.free}")
            device = min(fits, key=lambda d: (self.free[d], d))  # the fullest that has room
            self.free[device] = round(self.free[device] - amount, 6)
            return [device]
        count = round(amount)
        if abs(count - amount) > _EPSILON:
            raise OSError(f"{amount:g} GPUs: above 1, GPUs come in whole devices")
        whole = [d for d, left in self.free.items() if left >= 1 - _EPSILON][:count]
        if len(whole) < count:
            raise OSError(f"{count} whole GPU(s) wanted, {len(whole)} free: {self.free}")
        for device in whole:
            self.free[device] = 0.0
        return whole

    def release(self, devices: list[int], amount: float) -> None:
        share = amount if amount < 1 - _EPSILON else 1.0
        for device in devices:
            if device in self.free:
                self.free[device] = min(1.0, round(self.free[device] + share, 6))


def visible_devices(devices: list[int]) -> str:
    """``CUDA_VISIBLE_DEVICES`` for ``devices``."""
    return ",".join(str(d) for d in devices)
