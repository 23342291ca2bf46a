"""gunicorn settings shared by both web processes (override any of them with env)."""
import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = 100
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# Prometheus multiprocess mode: every worker writes its metrics to files in one directory
# and /metrics merges them. Each gunicorn master gets its own subdirectory (named after its
# port, so the two services never share or clear each other's), emptied at start.
# PROMETHEUS_MULTIPROC_DIR picks the parent (default .run/prometheus); it is set here, in
# the master, before any worker imports prometheus_client, which reads it at import time.
def on_starting(server):
    import shutil

    base = os.environ.get("PROMETHEUS_MULTIPROC_DIR_BASE") or os.environ.get("PROMETHEUS_MULTIPROC_DIR") \
        or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".run", "prometheus")
    port = str(server.cfg.bind[0]).rsplit(":", 1)[-1].replace("/", "_")
    path = os.path.join(base, f"gunicorn-{port}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR_BASE"] = base
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    server.log.info("prometheus multiprocess dir %s", path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
