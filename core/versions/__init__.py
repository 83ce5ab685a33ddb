"""The version tree and the desk a person works with it at."""
