"""`sean bf16-check`: bf16 inference numerics emulated in PyTorch, so bf16 quality can be measured on any CPU."""
