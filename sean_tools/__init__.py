"""Measuring tools that sit above export and runtime and import both: `sean bench` (latency, throughput,
memory and FLOP rate of every inference path) and `sean bf16-check` (bf16 image quality, emulated).

Nothing below this package imports it.
"""
