"""`make chaos` (`python -m bench.chaos`): faults and attacks against the real collector on
127.0.0.1, each with its figures and pass criteria, written to docs/reliability.md (issue 18)."""
