"""Prefect flows of Orchestra: thin; the work lives in the orchestra package."""
