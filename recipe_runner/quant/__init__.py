"""Streaming checkpoint converter (BF16 -> FP8 block / INT4 pack-quantized), verifier and inspector.

Importing this package loads neither torch nor safetensors: the plan/validate path stays light.
Library entry points live in submodules that load torch when called:
`convert.convert_checkpoint`, `verify.verify_checkpoint`, `summary.inspect_checkpoint` (torch-free),
`record.conversion_matches` (torch-free).
"""
