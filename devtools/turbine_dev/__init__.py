"""Development and test harness for Turbine Operator: local control plane, embedded AWS, demo.

Nothing here is imported by the product (`turbine_operator`); it exists so that tests, `make demo`
and the benchmarks run against real components started on loopback.
"""

from turbine_dev.tooling.read_tracking import track_child

# A process a test session started: the files it reads are inputs of the suite that started it.
track_child()
