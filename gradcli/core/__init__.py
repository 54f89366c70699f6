"""The tensor core: arrays that record, the op table, and reverse mode.

Knows nothing of the .ag language or the terminal.
"""
