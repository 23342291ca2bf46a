"""Make sure PostgreSQL and Redis answer at DATABASE_URL / REDIS_URL.

    python scripts/services.py ensure [--database-url URL] [--redis-url URL]

If a service does not answer and it is meant to be local (127.0.0.1/localhost), start
a local one: the machine's PostgreSQL cluster (pg_ctlcluster) or a private one under
.run/postgres (initdb), and redis-server (no persistence, like the dev machines).
Then create the database if it is missing. Uses only the standard library and
psycopg2 / redis from the venv.
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import psycopg2
from psycopg2 import sql

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_DIR = os.path.join(ROOT, ".run")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def log(msg: str) -> None:
    print(f"[services] {msg}", flush=True)


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, what: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if answers(host, port):
            return
        time.sleep(0.3)
    sys.exit(f"[services] {what} did not come up on {host}:{port} within {seconds:.0f}s")


def start_postgres(port: int) -> None:
    if shutil.which("pg_ctlcluster") and glob.glob("/etc/postgresql/*/main"):
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        log(f"starting the machine's PostgreSQL {version} cluster")
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
        return
    bindir = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None)
    initdb = shutil.which("initdb") or (bindir and os.path.join(bindir, "initdb"))
    pg_ctl = shutil.which("pg_ctl") or (bindir and os.path.join(bindir, "pg_ctl"))
    if not initdb or not os.path.exists(initdb):
        sys.exit("[services] PostgreSQL is not answering and no local PostgreSQL is installed; "
                 "install it (apt-get install postgresql) or set DATABASE_URL")
    data = os.path.join(RUN_DIR, "postgres")
    # PostgreSQL refuses to run as root: run it as the postgres user when we are root.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        log(f"initialising a private PostgreSQL cluster in {data}")
        os.makedirs(data, exist_ok=True)
        if as_user:
            shutil.chown(RUN_DIR, "postgres")
            shutil.chown(data, "postgres")
        subprocess.run([*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust"], check=True,
                       stdout=subprocess.DEVNULL)
    log("starting the private PostgreSQL cluster")
    subprocess.run([*as_user, pg_ctl, "-D", data, "-l", os.path.join(RUN_DIR, "postgres.log"), "-o",
                    f"-p {port} -k {RUN_DIR} -c listen_addresses=127.0.0.1", "start"], check=True)


def start_redis(port: int) -> None:
    server = shutil.which("redis-server")
    if not server:
        sys.exit("[services] Redis is not answering and redis-server is not installed; "
                 "install it (apt-get install redis-server) or set REDIS_URL")
    os.makedirs(RUN_DIR, exist_ok=True)
    log(f"starting redis-server on 127.0.0.1:{port}")
    subprocess.run([server, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                    "--appendonly", "no", "--dir", RUN_DIR, "--logfile", os.path.join(RUN_DIR, "redis.log")],
                   check=True)


def ensure_database(url: str) -> None:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    conn = psycopg2.connect(host=parsed.hostname or "127.0.0.1", port=parsed.port or 5432,
                            user=parsed.username or "postgres", password=parsed.password, dbname="postgres",
                            connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            log(f"creating database {name}")
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()


def ensure(database_url: str, redis_url: str) -> None:
    db, rd = urlparse(database_url), urlparse(redis_url)
    db_port, rd_port = db.port or 5432, rd.port or 6379
    if not answers(db.hostname, db_port):
        if db.hostname not in LOCAL_HOSTS:
            sys.exit(f"[services] PostgreSQL at {db.hostname}:{db_port} does not answer")
        start_postgres(db_port)
        wait_for(db.hostname, db_port, "PostgreSQL")
    if not answers(rd.hostname, rd_port):
        if rd.hostname not in LOCAL_HOSTS:
            sys.exit(f"[services] Redis at {rd.hostname}:{rd_port} does not answer")
        start_redis(rd_port)
        wait_for(rd.hostname, rd_port, "Redis")
    for attempt in range(20):
        try:
            ensure_database(database_url)
            break
        except Exception as exc:  # noqa: BLE001 - PostgreSQL may still be starting
            if attempt == 19:
                sys.exit(f"[services] cannot reach PostgreSQL: {exc}")
            time.sleep(0.5)
    log(f"PostgreSQL {db.hostname}:{db_port}/{db.path.lstrip('/')} and Redis {rd.hostname}:{rd_port} are up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["ensure"])
    parser.add_argument("--database-url", default=os.environ.get(
        "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/billing"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    ensure(args.database_url, args.redis_url)


if __name__ == "__main__":
    main()
