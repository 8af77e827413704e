"""REDIS_CLUSTER=true: the same service on a real three-node Redis Cluster (USSD sessions, resume
offers, rate counters, the Daraja token and its lock spread over the nodes' slots)."""
import pytest
import redis
from redis.cluster import RedisCluster

from app import create_app
from escrow.errors import ConfigError
from tests.e2e.conftest import _live_service
from tests.e2e.test_journey import BUYER, SELLER, reference_in, settle
from tests.redis_cluster import local_cluster


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


@pytest.fixture
def live_on_cluster(simulator, database_url, cluster_url, tmp_path):
    yield from _live_service(simulator, database_url, cluster_url, tmp_path,
                             {"SMS_BACKEND": "console", "REDIS_CLUSTER": "true"})


def test_the_whole_journey_runs_on_a_redis_cluster(live_on_cluster, simulator, cluster_url):
    live = live_on_cluster
    assert isinstance(live.app.extensions["zemi"].redis, RedisCluster)
    replies = live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")
    assert replies[-1].startswith("END ") and "M-Pesa prompt" in replies[-1]
    reference = reference_in(replies[-1])
    settle(live, simulator)
    code = live.delivery_code(BUYER)
    replies = live.dial(SELLER, "4", code, "1")
    assert replies[-1].startswith("END ")
    settle(live, simulator)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} paid_out")

    nodes = live.app.extensions["zemi"].redis.get_primaries()
    keys_per_node = [redis.Redis(host=node.host, port=node.port).dbsize() for node in nodes]
    assert len(nodes) == 3 and sum(1 for keys in keys_per_node if keys) >= 2, keys_per_node


def test_a_dropped_task_is_offered_again_and_the_language_kept_on_a_cluster(live_on_cluster):
    live = live_on_cluster
    live.dial(BUYER, "5", "2")                      # Kiswahili
    live.dial(BUYER, "1", "0722000111")             # then the call drops mid-task
    [offer] = live.dial(BUYER)
    assert offer.startswith("CON Hujamaliza") and "Uendelee ulipoishia?" in offer


def test_redis_cluster_without_a_node_to_ask_fails_at_start_up(tmp_path):
    with pytest.raises(ConfigError, match="REDIS_URL"):
        create_app({"INSTANCE_PATH": str(tmp_path), "REDIS_CLUSTER": "true"})
    with pytest.raises(ConfigError, match="REDIS_CLUSTER"):
        create_app({"INSTANCE_PATH": str(tmp_path), "REDIS_CLUSTER": "maybe", "REDIS_URL": "redis://127.0.0.1:1"})
