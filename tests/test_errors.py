import pickle

import pytest

from pymesos_rt.errors import TaskError, make_task_error


class Custom(LookupError):
    pass


def test_task_error_is_instance_of_cause_class_and_pickles():
    err = make_task_error(Custom("nope"), "f", "Traceback (most recent call last):\n  ...")
    assert isinstance(err, TaskError) and isinstance(err, Custom) and isinstance(err, LookupError)
    assert "task f failed with Custom: nope" in str(err)
    assert "Remote traceback" in str(err)
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, Custom) and back.task_name == "f"
    assert isinstance(back.__cause__, Custom)


def test_nested_task_errors_keep_the_original_class():
    inner = make_task_error(ValueError("x"), "inner", "tb1")
    outer = make_task_error(inner, "outer", "tb2")
    with pytest.raises(ValueError):
        raise outer


def test_unsubclassable_cause_still_gives_a_task_error():
    class Final(Exception):
        def __init_subclass__(cls, **kw):
            raise TypeError("final")

    err = make_task_error(Final("boom"), "g", "")
    assert type(err) is TaskError and isinstance(err.cause, Final)
