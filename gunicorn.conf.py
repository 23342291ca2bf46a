"""gunicorn settings shared by both web processes; the variables are declared in core/settings.py."""
import logging
import multiprocessing
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # gunicorn does not put the repo on the path
from core.settings import load_server_settings, load_settings  # noqa: E402

_server, _app = load_server_settings(), load_settings()
workers = _server.web_concurrency or multiprocessing.cpu_count() * 2
worker_class = _server.gunicorn_worker_class
# GUNICORN_THREADS run requests; a `?wait=` request parks on one of STATUS_WAIT_SLOTS more threads
# while it waits (core/status_wait.py), so waits never take the threads that do the work.
threads = _server.gunicorn_threads + _app.status_wait_slots
timeout = _server.gunicorn_timeout
graceful_timeout = 20
keepalive = 5
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections across
# workers: on one shared socket a gthread worker accepts greedily and, under keep-alive clients (a load
# balancer, wrk), one worker held every connection while the others idled (figures: bench/README.md).
# GUNICORN_REUSE_PORT=0 turns it off.
reuse_port = _server.gunicorn_reuse_port
max_requests = _server.gunicorn_max_requests
max_requests_jitter = 100
accesslog = _server.gunicorn_accesslog or None
errorlog = "-"
loglevel = _app.log_level.lower()
forwarded_allow_ips = _server.forwarded_allow_ips
# gunicorn 27 opens a control socket at one fixed path per user; `make run` starts three
# masters, which would take it from each other. Opt in with GUNICORN_CONTROL_SOCKET=path.
control_socket_disable = not _server.gunicorn_control_socket
if _server.gunicorn_control_socket:
    control_socket = _server.gunicorn_control_socket

# gunicorn's own lines (start, worker boot, timeouts) in the same format as the app's.
_log_format = _app.log_format or ("json" if _app.is_production else "text")
if _log_format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
            "static_fields": {"process": "gunicorn"},
        }},
        # The app's own handler (core.logging) sits on the root logger: gunicorn adds none there.
        "root": {"level": "WARNING", "handlers": []},
        "handlers": {"error_console": {"class": "logging.StreamHandler", "formatter": "json",
                                       "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"],
                                       "propagate": False, "qualname": "gunicorn.error"}},
    }


# Prometheus multiprocess mode: every worker writes its metrics to files in one directory
# and /metrics merges them. Each gunicorn master gets its own subdirectory (named after its
# port, so the two services never share or clear each other's), emptied at start.
# PROMETHEUS_MULTIPROC_DIR picks the parent (default .run/prometheus); it is set here, in
# the master, before any worker imports prometheus_client, which reads it at import time.
def on_starting(server):
    base = os.environ.get("PROMETHEUS_MULTIPROC_DIR_BASE") or _server.prometheus_multiproc_dir \
        or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".run", "prometheus")
    port = str(server.cfg.bind[0]).rsplit(":", 1)[-1].replace("/", "_")
    path = os.path.join(base, f"gunicorn-{port}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR_BASE"] = base
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    server.log.info("prometheus multiprocess dir %s", path)
    if server.cfg.reuse_port:
        logging.getLogger("gunicorn.error").addFilter(_NameTheAddresses(server.cfg.bind))


class _NameTheAddresses(logging.Filter):
    """With reuse_port the master opens no socket, so gunicorn's "Listening at:" names none: fill it in."""

    def __init__(self, binds):
        super().__init__()
        self.addresses = ",".join(f"http://{bind}" for bind in binds)

    def filter(self, record):
        if str(record.msg).startswith("Listening at:") and record.args and not record.args[0]:
            record.args = (f"{self.addresses} (a SO_REUSEPORT socket per worker)", *record.args[1:])
        return True


def child_exit(server, worker):
    # Not at the top: prometheus_client reads PROMETHEUS_MULTIPROC_DIR at import, which on_starting sets first.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
