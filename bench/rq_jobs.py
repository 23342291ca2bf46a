"""The jobs of the RQ benchmark that are not the product's: a trivial one, and a bare webhook POST."""
import requests

# One keep-alive session per worker process, as the product's core.http keeps one per thread.
_session = requests.Session()


def noop() -> None:
    return None


def post_once(url: str, body: bytes) -> int:
    """What an integrator webhook delivery is at the least: one POST of its body."""
    with _session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=(2, 5)) as response:
        return response.status_code
