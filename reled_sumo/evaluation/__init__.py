"""Evaluation: policies, trained runs and references measured the same way (docs/evaluation.md)."""
