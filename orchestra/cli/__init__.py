"""The command line: `orchestra` (init, run, queue, schema, doctor, stop, resume) and the
ad-hoc cycle shared with `python -m flows.run`. Presentation only; the work is in the library."""
