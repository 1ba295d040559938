//! Small typed SPI helpers shared by the SQL features.
use crate::error::{GnFluxError, Kind};
use pgrx::prelude::*;

/// Quoted schema of PostGIS, `None` when it is not installed in this database.
pub fn postgis_schema() -> Result<Option<String>, GnFluxError> {
    Ok(Spi::get_one::<String>(
        "SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'postgis'",
    )?)
}

/// Quoted schema of PostGIS; 55000 when it is not installed.
pub fn required_postgis_schema() -> Result<String, GnFluxError> {
    postgis_schema()?.ok_or_else(postgis_missing)
}

pub fn postgis_missing() -> GnFluxError {
    GnFluxError::new(
        Kind::WrongState,
        "PostGIS is not installed",
        "CREATE EXTENSION postgis;",
    )
}

/// The first column of the first row, `None` when the query returns no row (`Spi::get_one`
/// reports an empty result as an error).
pub fn optional_i32(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Option<i32>, GnFluxError> {
    Spi::connect(|c| -> Result<Option<i32>, GnFluxError> {
        let rows = c.select(sql, Some(1), args)?;
        match rows.into_iter().next() {
            Some(row) => Ok(row.get::<i32>(1)?),
            None => Ok(None),
        }
    })
}
