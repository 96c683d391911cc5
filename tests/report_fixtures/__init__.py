"""Small fixture studies and run-dir builders for the report and matrix tests (registered through
ATTNLAB_STUDIES=report_fixtures.rfx_alpha,report_fixtures.rfx_beta with tests/ on sys.path)."""
