"""`mmv3 seed`: fill a v3 server with the data of a real installation before a load run.

- `profiles`  the sizes (small, medium, large, or counts) and the proportions they derive from;
- `plan`      what to create, drawn from a seed (reproducible), independent of any server;
- `api`       carries a plan out through the v3 API with the paced client (any server);
- `cli`       the command: arguments, progress line, summary, the fast path for `mmv3 serve`.
"""
