"""The engine, Prefect-free: one step, one task through the boomerang workflow, the planner,
handoffs, prompts, preflight and what a cycle records. The flows call it; tests drive it with
:mod:`orchestra.testing`."""
