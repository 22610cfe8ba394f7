"""Sharding stage: MP4 encoding, WebDataset tars, Parquet metadata, verification, reading."""
