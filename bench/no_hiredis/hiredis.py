"""Put on PYTHONPATH by bench/side_by_side.py to serve Zemi without hiredis when it is installed:
redis-py falls back to its pure-Python parser when `import hiredis` fails."""
raise ImportError("hiredis hidden by the benchmark's A/B")
