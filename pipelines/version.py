"""The release number, recorded in every data set fractalvid writes (dataset.json, Parquet)."""

__version__ = "0.3.0"
