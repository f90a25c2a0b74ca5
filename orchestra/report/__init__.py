"""Reports as text: the JSONL log (the contract Alloy parses) and the markdown report of a task.
Publishing them to Prefect is :mod:`orchestra.prefect`'s job."""
