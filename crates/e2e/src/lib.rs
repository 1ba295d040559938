//! Tests only: see tests/. They need a PostgreSQL 15 with gn_flux installed, reachable through the
//! libpq-style connection string in `GN_FLUX_E2E_DSN` (tests/e2e/run.sh provides one).
