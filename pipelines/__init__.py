"""Pipelines: configs and presets, planning work into shards, running it, the command line."""
