import shutil

import pytest

from tests.reliability.stack import Stack


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/reliability" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="module")
def stack():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    s = Stack().start()
    yield s
    s.stop()
