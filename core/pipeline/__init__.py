"""The screening pipeline: settings, units of work, the Dask runner, background jobs, post-processing steps."""
