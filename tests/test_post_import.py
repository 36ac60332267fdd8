"""The post-import hook that lets the plugin register into / guard verl modules loaded after it."""

import importlib
import logging
import sys

import pytest

from fadtq.verl_ext.post_import import call_after_import


@pytest.fixture()
def make_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def make(name: str, body: str = "VALUE = 41\n") -> str:
        (tmp_path / f"{name}.py").write_text(body)
        created.append(name)
        return name

    yield make
    for name in created:
        sys.modules.pop(name, None)


def test_callback_runs_once_the_module_has_executed(make_module):
    name = make_module("fadtq_probe_later")
    seen = []
    call_after_import(name, lambda module: seen.append(module.VALUE + 1))
    assert seen == []
    module = importlib.import_module(name)
    assert seen == [42]
    importlib.reload(module)  # the hook is spent: it does not run again
    assert seen == [42]


def test_callback_runs_at_once_for_a_loaded_module(make_module):
    name = make_module("fadtq_probe_loaded")
    module = importlib.import_module(name)
    seen = []
    call_after_import(name, seen.append)
    assert seen == [module]


def test_failing_callback_is_logged_and_the_import_succeeds(make_module, caplog):
    name = make_module("fadtq_probe_failing")

    def broken(module):
        raise RuntimeError("boom")

    call_after_import(name, broken)
    with caplog.at_level(logging.WARNING, logger="fadtq.verl_ext.post_import"):
        module = importlib.import_module(name)
    assert module.VALUE == 41
    assert "boom" in caplog.text and name in caplog.text


def test_other_modules_keep_their_own_loader(make_module):
    waited, other = make_module("fadtq_probe_waited"), make_module("fadtq_probe_other")
    call_after_import(waited, lambda module: None)
    module = importlib.import_module(other)
    assert type(module.__spec__.loader).__name__ == "SourceFileLoader"
    # The wrapped loader still answers what tools ask a loader (inspect, resources).
    wrapped = importlib.import_module(waited)
    assert "VALUE = 41" in wrapped.__spec__.loader.get_source(waited)
