"""Measuring tools that sit above export and runtime and import both: `sean bench` (latency, throughput,
memory and FLOP rate of every inference path), `sean bf16-check` (bf16 image quality, emulated) and
`sean bench-serve` (load of a loopback `sean serve`, running or started by it, through the HTTP client only).

Nothing below this package imports it.
"""
