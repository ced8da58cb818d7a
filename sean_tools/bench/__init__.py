"""`sean bench`: every inference path timed in its own process, side by side.

spec      what one worker process runs (dataclasses, JSON on the worker's stdin)
inputs    the checkpoint and packages a benchmark runs on (exported and cached when needed)
plan      which paths are timed, which skipped and why, and their analytic FLOPs
worker    one path in its own process: load, time every batch size, report peak memory
run       starting the workers, the class-scaling rows, accuracy against the direct form, FLOP rates
report    the tables
cli       the click command
"""
