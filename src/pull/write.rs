//! The database writes of a run, one set-based statement per page and table (the SQL is in
//! sql/queries/). Our statements name PostGIS by its schema (types and operators), so a role
//! that can create a schema early on the caller's search_path cannot plant an operator in them.
use crate::error::GnFluxError;
use gn_client::PageColumns;
use pgrx::prelude::*;

const UPSERT_DATA_PAGE: &str = include_str!("../../sql/queries/upsert_data_page.sql");
const UPSERT_METADATA: &str = include_str!("../../sql/queries/upsert_metadata.sql");
const DELETE_IDS: &str = include_str!("../../sql/queries/delete_ids.sql");
const RECONCILE_FULL: &str = include_str!("../../sql/queries/reconcile_full.sql");
const RECONCILE_SEEN: &str = include_str!("../../sql/queries/reconcile_seen.sql");

/// What one page changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageCounts {
    pub inserted: i64,
    pub updated: i64,
    pub rejected: i64,
    pub gone: i64,
}

/// The data page statement, planned once per run.
pub struct PageWriter {
    statement: pgrx::spi::OwnedPreparedStatement,
}

impl PageWriter {
    pub fn prepare() -> Result<PageWriter, GnFluxError> {
        let postgis = crate::spi::required_postgis_schema()?;
        let sql = UPSERT_DATA_PAGE.replace("@postgis@", &postgis);
        use pgrx::pg_sys::{PgBuiltInOids as T, PgOid};
        let types = [
            T::TEXTARRAYOID,
            T::TEXTOID,
            T::TEXTOID,
            T::INT4OID,
            T::INT8OID,
            T::INT8OID,
            T::TEXTARRAYOID,
            T::TEXTARRAYOID,
            T::INT8ARRAYOID,
            T::TEXTARRAYOID,
        ]
        .map(PgOid::BuiltIn);
        let statement = Spi::connect(|c| c.prepare_mut(sql.as_str(), &types).map(|p| p.keep()))?;
        Ok(PageWriter { statement })
    }

    /// Writes one page. `range`: for pages that cover every served id in (lower, upper] (keyset
    /// pages of a full pull), stored rows in that range missing from the page are deleted.
    pub fn write(
        &self,
        columns: PageColumns,
        source: &str,
        data_type: &str,
        import_id: i32,
        range: Option<(i64, i64)>,
    ) -> Result<PageCounts, GnFluxError> {
        let (lower, upper) = match range {
            Some((l, u)) => (Some(l), Some(u)),
            None => (None, None),
        };
        Spi::connect_mut(|c| -> Result<PageCounts, GnFluxError> {
            let row = c
                .update(
                    &self.statement,
                    None,
                    &[
                        columns.items.into(),
                        source.into(),
                        data_type.into(),
                        import_id.into(),
                        lower.into(),
                        upper.into(),
                        columns.geoms.into(),
                        columns.errors.into(),
                        columns.ids.into(),
                        columns.uuids.into(),
                    ],
                )?
                .first();
            Ok(PageCounts {
                inserted: row.get(1)?.unwrap_or(0),
                updated: row.get(2)?.unwrap_or(0),
                rejected: row.get(3)?.unwrap_or(0),
                gone: row.get(4)?.unwrap_or(0),
            })
        })
    }
}

/// Acquisition frameworks and datasets: (upserts, rejects).
pub fn write_metadata(payload: &str, source: &str, data_type: &str, import_id: i32) -> Result<(i64, i64), GnFluxError> {
    Spi::connect_mut(|c| -> Result<(i64, i64), GnFluxError> {
        let row = c
            .update(
                UPSERT_METADATA,
                None,
                &[payload.into(), source.into(), data_type.into(), import_id.into()],
            )?
            .first();
        Ok((row.get(1)?.unwrap_or(0), row.get(2)?.unwrap_or(0)))
    })
}

/// Deletions reported by the remote synthese log.
pub fn delete_ids(source: &str, ids: Vec<i64>) -> Result<i64, GnFluxError> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(Spi::get_one_with_args::<i64>(DELETE_IDS, &[source.into(), ids.into()])?.unwrap_or(0))
}

/// End of a complete keyset full pull: stored rows above the last covered id are gone upstream.
pub fn reconcile_above(source: &str, covered: i64) -> Result<i64, GnFluxError> {
    Ok(Spi::get_one_with_args::<i64>(RECONCILE_FULL, &[source.into(), covered.into()])?.unwrap_or(0))
}

/// End of a complete full pull whose pages were not id ranges (page-index paging): stored rows
/// that the last, complete pass did not deliver are gone upstream.
pub fn reconcile_seen(source: &str, seen: Vec<i64>) -> Result<i64, GnFluxError> {
    Ok(Spi::get_one_with_args::<i64>(RECONCILE_SEEN, &[source.into(), seen.into()])?.unwrap_or(0))
}
