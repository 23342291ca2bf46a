"""gunicorn.conf.py and the dashboard read their variables through core.settings.ServerSettings."""
import multiprocessing
import runpy
from pathlib import Path

import pytest

from core.settings import SettingsError, load_server_settings, server_env_names

CONF = str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py")


@pytest.fixture
def clean_env(monkeypatch):
    for name in server_env_names().values():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_gunicorn_defaults(clean_env):
    conf = runpy.run_path(CONF)
    assert conf["workers"] == multiprocessing.cpu_count() * 2  # WEB_CONCURRENCY unset or 0
    assert (conf["worker_class"], conf["threads"], conf["timeout"]) == ("gthread", 4 + 64, 30)  # working threads + STATUS_WAIT_SLOTS
    assert conf["reuse_port"] is True and conf["max_requests"] == 0 and conf["accesslog"] is None
    assert conf["forwarded_allow_ips"] == "127.0.0.1" and conf["control_socket_disable"] is True


def test_gunicorn_reads_the_declared_variables(clean_env):
    for name, value in {"WEB_CONCURRENCY": "3", "GUNICORN_REUSE_PORT": "0", "GUNICORN_THREADS": "2",
                        "GUNICORN_ACCESSLOG": "-", "GUNICORN_CONTROL_SOCKET": "/tmp/g.sock"}.items():
        clean_env.setenv(name, value)
    conf = runpy.run_path(CONF)
    assert (conf["workers"], conf["reuse_port"], conf["threads"], conf["accesslog"]) == (3, False, 2 + 64, "-")
    assert conf["control_socket_disable"] is False and conf["control_socket"] == "/tmp/g.sock"


def test_a_bad_server_variable_stops_gunicorn_with_its_name(clean_env):
    clean_env.setenv("GUNICORN_THREADS", "many")
    with pytest.raises(SettingsError, match="GUNICORN_THREADS"):
        runpy.run_path(CONF)


def test_dashboard_address_is_declared(clean_env):
    clean_env.setenv("DASHBOARD_PORT", "9999")
    assert (load_server_settings().dashboard_host, load_server_settings().dashboard_port) == ("127.0.0.1", 9999)
