"""Deployment set-up that `prefect.yaml` alone cannot do: work pools with their job variables
(`python -m deployments.pools`), and serving every deployment from one process on one host
(`python -m deployments.serve`)."""
