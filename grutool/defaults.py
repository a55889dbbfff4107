"""Defaults the contract fixes, shared by the library and the CLI. Imports nothing: the CLI
reads them while it builds its options, before anything heavy is loaded."""

# The numerical proof's bound on max |difference| of float32 outputs (cli-contract: 1e-5).
DEFAULT_TOLERANCE = 1e-5
