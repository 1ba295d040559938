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
const FEED_KEYS: &str = include_str!("../../sql/queries/feed_keys.sql");

/// The data_json.id_data of each key of a feed page (new keys get new ids), in order; `None`
/// for items without a key (they carry an error).
pub fn feed_ids(source: &str, keys: Vec<Option<String>>) -> Result<Vec<Option<i64>>, GnFluxError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let ids = Spi::connect_mut(|c| -> Result<Option<Vec<Option<i64>>>, GnFluxError> {
        Ok(c.update(FEED_KEYS, None, &[source.into(), keys.into()])?
            .first()
            .get::<Vec<Option<i64>>>(1)?)
    })?;
    Ok(ids.unwrap_or_default())
}

/// What one page changed.
#[derive(Debug, Clone, Default)]
pub struct PageCounts {
    pub inserted: i64,
    pub updated: i64,
    pub rejected: i64,
    pub gone: i64,
    /// The ids of the rows inserted or changed (for the GeoNature load).
    pub changed: Vec<i32>,
    /// The uuids of the rows deleted (for the GeoNature load).
    pub gone_uuids: Vec<String>,
}

/// Rows deleted from data_json, and their uuids (for the GeoNature load).
#[derive(Debug, Clone, Default)]
pub struct Deleted {
    pub count: i64,
    pub uuids: Vec<String>,
}

/// Metadata written: (upserts, rejects, the uuids of the items inserted or changed).
#[derive(Debug, Clone, Default)]
pub struct MetadataWritten {
    pub upserts: i64,
    pub rejected: i64,
    pub changed: Vec<String>,
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
                changed: row.get(5)?.unwrap_or_default(),
                gone_uuids: row.get(6)?.unwrap_or_default(),
            })
        })
    }
}

/// Acquisition frameworks and datasets.
pub fn write_metadata(
    payload: &str,
    source: &str,
    data_type: &str,
    import_id: i32,
) -> Result<MetadataWritten, GnFluxError> {
    Spi::connect_mut(|c| -> Result<MetadataWritten, GnFluxError> {
        let row = c
            .update(
                UPSERT_METADATA,
                None,
                &[payload.into(), source.into(), data_type.into(), import_id.into()],
            )?
            .first();
        Ok(MetadataWritten {
            upserts: row.get(1)?.unwrap_or(0),
            rejected: row.get(2)?.unwrap_or(0),
            changed: row.get(3)?.unwrap_or_default(),
        })
    })
}

/// A deleting statement's (count, uuids).
fn deleted(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Deleted, GnFluxError> {
    Spi::connect_mut(|c| -> Result<Deleted, GnFluxError> {
        let row = c.update(sql, None, args)?.first();
        Ok(Deleted {
            count: row.get(1)?.unwrap_or(0),
            uuids: row.get(2)?.unwrap_or_default(),
        })
    })
}

/// Deletions reported by the remote synthese log.
pub fn delete_ids(source: &str, ids: Vec<i64>) -> Result<Deleted, GnFluxError> {
    if ids.is_empty() {
        return Ok(Deleted::default());
    }
    deleted(DELETE_IDS, &[source.into(), ids.into()])
}

/// End of a complete keyset full pull: stored rows above the last covered id are gone upstream.
pub fn reconcile_above(source: &str, covered: i64) -> Result<Deleted, GnFluxError> {
    deleted(RECONCILE_FULL, &[source.into(), covered.into()])
}

/// End of a complete full pull whose pages were not id ranges (page-index paging): stored rows
/// that the last, complete pass did not deliver are gone upstream.
pub fn reconcile_seen(source: &str, seen: Vec<i64>) -> Result<Deleted, GnFluxError> {
    deleted(RECONCILE_SEEN, &[source.into(), seen.into()])
}
