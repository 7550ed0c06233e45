"""Benchmarks: env vs raw SUMO, training and worker throughput, the learning suite with its claims,
and the LLM expert (`reled bench llm`)."""
