"""The wire contract, pure data: ids, resources, messages, codec and state enums.

Imports nothing else of the package (checked by import-linter).
"""
