"""Everything that talks to Prefect: run set-up, the log bridge, artifacts, schedules,
cancellation checks, prefect-docker's engine client and Prefect's settings. The only room of the
library that imports Prefect."""
