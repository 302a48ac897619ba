"""TallyIO benchmarks: each bench_*.py module exposes run() -> dict of figures."""
