"""`sean gpu-check` (scripts/gpu_check.sh): one run that shows the PyTorch side working on a CUDA GPU and
how fast the model is there, written as one table and one JSON file (docs/gpu.md).

plan       what one run does on a GPU, and the same run made tiny for a CPU dry run (`--device cpu --tiny`)
training   training steps with AMP on and off, and kill -9 / --resume against an uninterrupted run
child      the training process the kill / resume check starts (deterministic algorithms, a kill at a step)
exported   `sean eval` and `sean export` of the trained checkpoint, the graph on the CPU against the model
speed      latency, throughput and peak memory of encoder + generator per form, dtype, mode and batch
report     the table
cli        the click command
"""
