"""The command line: flags, the start-up check, and where models come from."""
