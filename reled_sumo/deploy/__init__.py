"""Deployment: a trained actor as an ONNX file, run with onnxruntime (no torch on this path).

:mod:`reled_sumo.deploy.onnx_policy` loads the file written by ``reled export`` and acts;
:mod:`reled_sumo.deploy.onnx_eval` drives the env with it (``reled eval --policy-file``).
See docs/deploy.md for the model's inputs, outputs and metadata.
"""
