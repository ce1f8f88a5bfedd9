"""The run machinery of ``bench run``: the plan of a run, its chunked execution and cache,
the executors that run chunks (in this process, a process pool, or Ray), aggregation into
tables, the results folder, its lock and its provenance record."""
