"""Facts about the machine a run happens on: what it is (``machine``) and how busy others keep it (``contention``).

Training records both in its run directory and the benchmarks in their reports; neither imports TensorFlow.
"""
