"""Where the shared, read-only benchmark data lives: the package's one resolver, for the scripts here.

Set ``NL2Q_BENCHMARKS`` to its directory; without it, ``../shared/benchmarks`` beside the checkout is used.
"""

from nl2q.evaluate.benchmarks import DEFAULT, ENV_VAR, BenchmarksMissing, available, benchmarks_dir, benchmarks_root

__all__ = ["DEFAULT", "ENV_VAR", "BenchmarksMissing", "available", "benchmarks_dir", "benchmarks_root"]
