"""What the benchmarks measure: per-hop latencies, counts, errors and CPU, and how they are printed."""
from dataclasses import dataclass, field


@dataclass
class Stats:
    name: str
    seconds: float = 0.0
    latencies: list = field(default_factory=list)          # seconds, per counted hop
    by_label: dict = field(default_factory=dict)            # label -> [seconds]
    sessions: int = 0
    errors: int = 0
    error_samples: list = field(default_factory=list)
    note: str = ""
    client_cpu: float = 0.0     # CPU seconds used by this process while measuring
    server_cpu: float | None = None   # CPU seconds used by the gunicorn process group while measuring

    @property
    def hops(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.hops / self.seconds if self.seconds else 0.0

    def add(self, label: str, seconds: float) -> None:
        self.latencies.append(seconds)
        self.by_label.setdefault(label, []).append(seconds)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:160])

    def merge(self, other: "Stats") -> None:
        self.latencies += other.latencies
        for label, values in other.by_label.items():
            self.by_label.setdefault(label, []).extend(values)
        self.sessions += other.sessions
        self.errors += other.errors
        self.error_samples = (self.error_samples + other.error_samples)[:5]


def percentile(values: list, fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def print_stats(stats: Stats, per_label: bool = False) -> None:
    print(f"  {stats.name}: {stats.hops} hops, {stats.sessions} sessions in {stats.seconds:.1f} s -> "
          f"{stats.rate:.0f} hops/s; per hop p50 {ms(percentile(stats.latencies, 0.5))}, "
          f"p99 {ms(percentile(stats.latencies, 0.99))}, max {ms(max(stats.latencies, default=0))}; "
          f"errors {stats.errors}" + (f" ({stats.note})" if stats.note else ""))
    for sample in stats.error_samples:
        print(f"    error: {sample}")
    if stats.seconds and stats.hops:
        cpu = f"    CPU: driver {stats.client_cpu / stats.seconds:.2f} cores"
        if stats.server_cpu is not None:
            cpu += (f", gunicorn {stats.server_cpu / stats.seconds:.2f} cores"
                    f" = {stats.server_cpu / stats.hops * 1000:.2f} ms of server CPU per hop")
        else:
            cpu += f" = {stats.client_cpu / stats.hops * 1000:.2f} ms of CPU per hop (app and driver together)"
        print(cpu)
    if per_label:
        for label, values in stats.by_label.items():
            if values:
                print(f"    {label:<13} n={len(values):<6} p50 {ms(percentile(values, 0.5)):>10}  "
                      f"p99 {ms(percentile(values, 0.99)):>10}")


def judge(reply: str, last: bool, script) -> str | None:
    """None when the reply is what this hop should get, else what was wrong."""
    if last:
        return None if reply.startswith(script.final) else f"{script.kind} ended with {reply[:80]!r}"
    return None if reply.startswith("CON ") else f"{script.kind} got {reply[:80]!r} mid-session"
