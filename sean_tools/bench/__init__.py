"""`sean bench`: every inference path timed in its own process, side by side.

spec      what one worker process runs (dataclasses, JSON on the worker's stdin)
inputs    the checkpoint and packages a benchmark runs on (exported and cached when needed)
plan      which paths are timed, which skipped and why, and their analytic FLOPs
worker    one path in its own process: load, time every batch size, report peak memory
process   starting a worker process with its JSON and reading its answer
run       the table's run (the class-scaling rows, accuracy against the direct form, FLOP rates) and the
          studies below on the same rows
alternate --alternate: the rows in one process in turns, medians and paired ratios to the first
profile   --profile: per-node times of the ONNX Runtime / OpenVINO rows by part, block and operator
report    the tables
cli       the click command
"""
