"""Click commands of the `vcbench` CLI, one module per concern."""
