"""Which modules the driver asks executors to preload, and how an executor imports them: only
when idle, with unpickling held meanwhile."""

from __future__ import annotations

import logging
import pickle
import sys
import threading

from pymesos_rt import preload, serialization


def test_by_default_the_auto_modules_the_driver_has_imported():
    assert preload.wanted({}, {"numpy": object(), "pandas": object()}) == ["numpy"]
    assert preload.wanted({}, {"json": object()}) == []


def test_the_environment_replaces_the_choice_and_empty_turns_it_off():
    env = {preload.PRELOAD_ENV: " pandas, ,scipy "}
    assert preload.wanted(env, {"numpy": object()}) == ["pandas", "scipy"]
    assert preload.wanted({preload.PRELOAD_ENV: ""}, {"numpy": object()}) == []


def test_imports_what_is_missing_once_idle_and_logs_what_cannot_be(caplog):
    idle = threading.Event()
    loader = preload.Preloader(idle.is_set, idle_s=0.0)
    loader.want(["sys", "os"])  # imported already: nothing to do, no thread
    assert loader.join(0)
    sys.modules.pop("this_module_does_not_exist", None)
    sys.modules.pop("tabnanny", None)
    with caplog.at_level(logging.INFO, logger="pymesos_rt.preload"):
        loader.want(["this_module_does_not_exist", "tabnanny"])
        assert not loader.join(0.2) and "tabnanny" not in sys.modules  # busy: it waits
        idle.set()
        assert loader.join(30)
    assert "tabnanny" in sys.modules
    assert "cannot preload this_module_does_not_exist" in caplog.text


def test_unpickling_waits_while_the_preloader_imports():
    data = pickle.dumps([1, 2])
    got: list[object] = []
    with serialization.hold():
        reader = threading.Thread(target=lambda: got.append(serialization.loads(data)))
        reader.start()
        reader.join(0.2)
        assert reader.is_alive() and got == []  # held
    reader.join(30)
    assert got == [[1, 2]]


def test_a_message_between_the_looks_defers_the_import():
    """A message that arrives after the preloader found the executor idle, but before it held
    unpickling (a task or an actor may be starting): the import waits for the next gap."""
    sys.modules.pop("tabnanny", None)
    calls = []

    def idle() -> bool:
        calls.append(1)
        if len(calls) == 1:
            loader.activity()  # arrives right after the first look
        return True

    loader = preload.Preloader(idle, idle_s=0.05)
    loader.want(["tabnanny"])
    assert loader.join(30) and "tabnanny" in sys.modules
    assert len(calls) >= 3  # looked, deferred, looked twice again


def test_a_stopped_preloader_imports_nothing_more():
    sys.modules.pop("tabnanny", None)
    loader = preload.Preloader(lambda: True, idle_s=0.0)
    loader.stop()
    loader.want(["tabnanny"])
    assert loader.join(0) and "tabnanny" not in sys.modules


def test_the_holding_thread_unpickles_while_others_wait():
    data = pickle.dumps({"a": 1})
    with serialization.hold():
        assert serialization.loads(data) == {"a": 1}  # the preloader's own imports go on


def test_a_long_hold_is_logged(monkeypatch, caplog):
    monkeypatch.setattr(serialization, "HELD_WARN_S", 0.05)
    data = pickle.dumps(1)
    with caplog.at_level(logging.WARNING, logger="pymesos_rt.serialization"):
        with serialization.hold():
            reader = threading.Thread(target=lambda: serialization.loads(data))
            reader.start()
            reader.join(0.5)
        reader.join(30)
    assert "waited 0.05s for this executor's preload imports" in caplog.text
