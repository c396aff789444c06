"""Magicoder reproduced as a pipeline: one module per stage, each with a `main()` a rule calls."""
