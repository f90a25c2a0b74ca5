"""Configuration: the pydantic models (every key of orchestra.yaml), the layered loader with
provenance, and the JSON Schema export."""
