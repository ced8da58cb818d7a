"""`sean bench-serve`: closed-loop load of a loopback `sean serve` (HTTP clients only: no torch).

loadtest  the clients, levels, soak and their tables
triton    the Triton target (--triton)
launch    starting and stopping `sean serve` on 127.0.0.1 (--start)
rounds    rounds of started servers compared on one option, and their summary (--start)
cli       the click command
"""
