"""The reference receiver: the cheapest correct Jodo receiver, measured beside the project."""
