"""The trivial job of the RQ benchmark: what a worker costs per job when the job costs nothing."""


def noop() -> None:
    return None
