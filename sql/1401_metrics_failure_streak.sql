-- The ops exporter's trackai_capi_consecutive_failures_max (trackai/ops_metrics.py): failed requests in a row
-- per (tenant, pixel), which dispatch saves while a failing batch still backs off. A count, nothing else.
GRANT SELECT (consecutive_failures) ON ops.circuit_breakers TO trackai_metrics;
