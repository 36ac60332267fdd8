"""Subcommands of the `fadtq` CLI (entry-point layer); discovered by `fadtq.cli`."""
