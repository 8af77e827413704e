"""anysd's "pay a seller" in process, for bench/ussd.py: run in anysd's own venv (bench/anysd_env.py).

    ANYSD_CONFIG_FILE=... bench/.anysd-venv/bin/python -m bench.anysd_inprocess <sessions> <run tag>

Drives the same pay scripts as Zemi's in-process run (the same numbers and ids: anysd keys its sessions apart) through the Flask test client (new numbers, one
session after another, after 20 to warm up) and prints one JSON line: {label: p50 seconds}.
"""
import json
import sys

from bench.anysd_app import create_app
from bench.stats import percentile
from bench.ussd import pay_script, run_in_process


def main(argv) -> int:
    sessions, run_tag = int(argv[0]), argv[1]
    app = create_app()
    scripts = [pay_script(1, index, run_tag) for index in range(sessions + 20)]
    run_in_process(app, scripts[:20], 30.0)
    stats = run_in_process(app, scripts[20:], 60.0, name="anysd in process")
    if stats.errors:
        print(f"anysd errors: {stats.error_samples}", file=sys.stderr)
        return 1
    print(json.dumps({label: percentile(values, 0.5) for label, values in stats.by_label.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
