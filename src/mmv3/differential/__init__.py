"""Differential testing: the same generated requests to a live Mattermost and to a fresh
`mmv3 serve`, their answers normalised and compared (`mmv3 diff`).

`cases` generates the request sequences from the catalogue's recipes, `shape` normalises an
answer and compares two of them, `runner` drives both servers and writes the report.
"""
