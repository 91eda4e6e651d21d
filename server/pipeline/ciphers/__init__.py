"""Ciphers and containers for chunk bytes: the age v1 file format and the zip container
(optionally WinZip AES-256). Each format has its writer (a streaming Cipher or
Compressor stage) and its reader (used by `sluice export read` and the tests).

Kept free of settings and plan imports, so the client can read exports with only
`cryptography` and the standard library; `selection` wires specs to stages.
"""
