"""dask_clipwriter: write NeMo-Curator-compatible clip datasets from Dask DataFrames."""
