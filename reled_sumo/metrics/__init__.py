"""Torch-free result types and the one way episodes become them (docs/evaluation.md).

``results``: :class:`EpisodeOutcome`, :class:`SeedMetrics`, :class:`EvalResult` and their
files; ``stats``: mean and Student-t interval; ``episodes``: one env, one episode per seed ->
an :class:`EvalResult`. Below ``deploy`` (ONNX, no torch) and ``evaluation`` (torch runs,
references), which both return these types.
"""
