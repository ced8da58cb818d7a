"""`sean bench-serve`: closed-loop load of a loopback `sean serve` (HTTP clients only: no torch).

loadtest  the clients, levels, soak and their tables
cli       the click command
"""
