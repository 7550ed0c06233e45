"""Benchmarks: env vs raw SUMO, training and worker throughput, and the learning suite with its claims."""
