"""The experiments of both seeds: one module per experiment, each returning a typed result."""
