"""The graph runtime (torch.export + torchao PT2E): export, op names, and (to come) the
plan-driven PT2E quantizer. ``names`` gives an exported graph's call sites the eager
inventory's op names (docs/semantics.md §1)."""
