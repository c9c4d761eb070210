"""Which modules the driver asks executors to preload, and how an executor imports them."""

from __future__ import annotations

import logging
import sys

from pymesos_rt import preload


def test_by_default_the_auto_modules_the_driver_has_imported():
    assert preload.wanted({}, {"numpy": object(), "pandas": object()}) == ["numpy"]
    assert preload.wanted({}, {"json": object()}) == []


def test_the_environment_replaces_the_choice_and_empty_turns_it_off():
    env = {preload.PRELOAD_ENV: " pandas, ,scipy "}
    assert preload.wanted(env, {"numpy": object()}) == ["pandas", "scipy"]
    assert preload.wanted({preload.PRELOAD_ENV: ""}, {"numpy": object()}) == []


def test_start_imports_what_is_missing_on_a_thread_and_logs_what_cannot_be(caplog):
    assert preload.start(["sys", "os"]) is None  # imported already: no thread
    sys.modules.pop("this_module_does_not_exist", None)
    with caplog.at_level(logging.INFO, logger="pymesos_rt.preload"):
        thread = preload.start(["this_module_does_not_exist", "tabnanny"])
        assert thread is not None
        thread.join(30)
    assert not thread.is_alive() and "tabnanny" in sys.modules
    assert "cannot preload this_module_does_not_exist" in caplog.text
