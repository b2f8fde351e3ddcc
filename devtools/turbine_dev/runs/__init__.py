"""What the tests, the demo and the benchmarks run: the operator as a process, chaos trials, probes of a
TurbineStack's state, and the processes they start."""
