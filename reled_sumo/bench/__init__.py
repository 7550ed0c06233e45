"""Benchmarks that need several layers (experts, env, demos): e.g. `reled bench llm`."""
