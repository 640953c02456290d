"""The `galvani` command: the one place that puts the API and the gateway together."""
