//! One source's GeoNature load: the statements of sql/synthese/, prepared once per call (a pull,
//! load_synthese, replay_synthese) with the source's column overrides, run chunk by chunk.
use crate::error::{GnFluxError, Kind};
use crate::pull::stats::AnalyzePolicy;
use gn_synthese::{mapping, BASIC_METADATA_SQL, DELETE_OBSERVATIONS_SQL, LOAD_OBSERVATIONS_SQL, OBSERVATIONS_SQL};
use pgrx::pg_sys::{PgBuiltInOids as T, PgOid};
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;

/// Staged rows mapped per statement: GeoNature's statement-level triggers see this many rows at
/// a time, and memory stays bounded whatever the size of the load.
pub const CHUNK: usize = 5000;

/// What a load changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadCounts {
    pub inserted: i64,
    pub updated: i64,
    pub rejected: i64,
    pub defaulted: i64,
    pub deleted: i64,
    pub metadata_written: i64,
    pub metadata_rejected: i64,
}

/// How a source is loaded (its gn_flux.synthese_load row).
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: String,
    pub id_source: i32,
    pub default_nomenclatures: bool,
}

impl Settings {
    /// `None` when the load is not enabled for the source.
    pub fn of(source: &str) -> Result<Option<Settings>, GnFluxError> {
        Spi::connect(|c| -> Result<Option<Settings>, GnFluxError> {
            let rows = c.select(
                "SELECT l.id_source, l.default_nomenclatures FROM gn_flux.synthese_load l WHERE l.source = $1",
                None,
                &[source.into()],
            )?;
            match rows.into_iter().next() {
                Some(row) => Ok(Some(Settings {
                    source: source.to_string(),
                    id_source: row.get::<i32>(1)?.unwrap_or_default(),
                    default_nomenclatures: row.get::<bool>(2)?.unwrap_or(false),
                })),
                None => Ok(None),
            }
        })
    }
}

/// The source's overrides, refused when one was written by a role that does not hold every
/// privilege of the role running the load: its SQL would run with privileges its author lacks.
pub fn overrides(source: &str) -> Result<Vec<(String, String)>, GnFluxError> {
    Spi::connect(|c| -> Result<Vec<(String, String)>, GnFluxError> {
        let rows = c.select(
            "SELECT o.column_name, o.expression, o.set_by::text,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = o.set_by)
                    AND pg_catalog.pg_has_role(o.set_by, current_user, 'MEMBER')
               FROM gn_flux.synthese_column o WHERE o.source = $1 ORDER BY o.column_name",
            None,
            &[source.into()],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let column: String = row.get(1)?.unwrap_or_default();
            let expression: String = row.get(2)?.unwrap_or_default();
            let author: String = row.get(3)?.unwrap_or_default();
            if !row.get::<bool>(4)?.unwrap_or(false) {
                return Err(GnFluxError::new(
                    Kind::InsufficientPrivilege,
                    format!("the override of column {column} for source \"{source}\" was set by role \"{author}\", which does not hold the privileges of the current role"),
                    format!("An override runs with the privileges of the role loading the source. Set it again as this role: SELECT gn_flux.set_synthese_column('{source}', '{column}', …), or run the load as \"{author}\"."),
                ));
            }
            out.push((column, expression));
        }
        Ok(out)
    })
}

/// The source's overrides, completed for sources of other kinds than geonature (see
/// [`mapping::with_feed_base`]).
pub fn effective_overrides(source: &str, own: Vec<(String, String)>) -> Result<Vec<(String, String)>, GnFluxError> {
    let kind = Spi::get_one_with_args::<String>(
        "SELECT s.kind FROM gn_flux.source s WHERE s.name = $1",
        &[source.into()],
    )?
    .unwrap_or_default();
    Ok(if kind.is_empty() || kind == "geonature" {
        own
    } else {
        mapping::with_feed_base(own)
    })
}

/// The observation mapping of a source (its overrides in place), PostGIS named by its schema.
pub fn observations_sql(overrides: &[(String, String)], postgis: &str) -> Result<String, GnFluxError> {
    let sql = mapping::with_overrides(OBSERVATIONS_SQL, overrides)
        .map_err(|e| GnFluxError::invalid(e, "See SELECT * FROM gn_flux.synthese_mapping();"))?;
    Ok(sql.replace("@postgis@", postgis))
}

fn prepare(sql: &str, types: &[T]) -> Result<OwnedPreparedStatement, GnFluxError> {
    let types: Vec<PgOid> = types.iter().map(|t| PgOid::BuiltIn(*t)).collect();
    Ok(Spi::connect(|c| c.prepare_mut(sql, &types).map(|p| p.keep()))?)
}

/// The prepared statements of one source's load.
pub struct Loader {
    settings: Settings,
    /// GeoNature's statement triggers look the new rows up in the Synthese: its statistics must
    /// follow the load (see pull::stats).
    analyze: std::cell::Cell<AnalyzePolicy>,
    observations: OwnedPreparedStatement,
    /// The source creates its datasets (gn_flux.feed_datasets).
    creates_datasets: bool,
    basic: OwnedPreparedStatement,
    delete: OwnedPreparedStatement,
    metadata: Vec<(&'static str, OwnedPreparedStatement)>,
}

impl Loader {
    /// The loader of a source whose load is enabled, `None` otherwise.
    pub fn for_source(source: &str) -> Result<Option<Loader>, GnFluxError> {
        match Settings::of(source)? {
            Some(s) => Ok(Some(Loader::new(s)?)),
            None => Ok(None),
        }
    }

    pub fn new(settings: Settings) -> Result<Loader, GnFluxError> {
        super::require_geonature()?;
        let postgis = crate::spi::required_postgis_schema()?;
        let overrides = effective_overrides(&settings.source, overrides(&settings.source)?)?;
        let load_sql = format!("{}{}", observations_sql(&overrides, &postgis)?, LOAD_OBSERVATIONS_SQL)
            .replace("@postgis@", &postgis);
        let observations = prepare(
            &load_sql,
            &[T::TEXTOID, T::INT4ARRAYOID, T::INT4OID, T::BOOLOID, T::INT4OID],
        )?;
        let creates_datasets = Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM gn_flux.feed_datasets f WHERE f.source = $1)",
            &[settings.source.as_str().into()],
        )?
        .unwrap_or(false);
        let basic = prepare(BASIC_METADATA_SQL, &[T::TEXTOID, T::INT4ARRAYOID])?;
        let delete = prepare(DELETE_OBSERVATIONS_SQL, &[T::TEXTOID, T::INT4OID, T::TEXTARRAYOID])?;
        let mut metadata = Vec::new();
        for (name, sql) in gn_synthese::metadata_statements() {
            metadata.push((
                name,
                prepare(sql, &[T::TEXTOID, T::TEXTARRAYOID, T::BOOLOID, T::INT4OID])?,
            ));
        }
        Ok(Loader {
            settings,
            analyze: std::cell::Cell::new(AnalyzePolicy::for_synthese()?),
            observations,
            creates_datasets,
            basic,
            delete,
            metadata,
        })
    }

    /// Metadata items (`None`: every item of the source) into gn_meta and utilisateurs.
    pub fn metadata(
        &self,
        uuids: Option<Vec<String>>,
        import_id: Option<i32>,
        counts: &mut LoadCounts,
    ) -> Result<(), GnFluxError> {
        if matches!(&uuids, Some(u) if u.is_empty()) {
            return Ok(());
        }
        for (_, statement) in &self.metadata {
            let (written, rejected) = Spi::connect_mut(|c| -> Result<(i64, i64), GnFluxError> {
                let row = c
                    .update(
                        statement,
                        None,
                        &[
                            self.settings.source.as_str().into(),
                            uuids.clone().into(),
                            self.settings.default_nomenclatures.into(),
                            import_id.into(),
                        ],
                    )?
                    .first();
                Ok((row.get::<i64>(1)?.unwrap_or(0), row.get::<i64>(2)?.unwrap_or(0)))
            })?;
            counts.metadata_written += written;
            counts.metadata_rejected += rejected;
        }
        Ok(())
    }

    /// Staged observations (data_json ids) into the Synthese, with the basic frameworks and
    /// datasets of the flat export shapes first.
    pub fn observations(
        &self,
        ids: &[i32],
        import_id: Option<i32>,
        counts: &mut LoadCounts,
    ) -> Result<(), GnFluxError> {
        for chunk in ids.chunks(CHUNK) {
            pgrx::check_for_interrupts!();
            let chunk = chunk.to_vec();
            if self.creates_datasets {
                let created = Spi::get_one_with_args::<i32>(
                    "SELECT gn_flux._create_feed_datasets($1, $2)",
                    &[self.settings.source.as_str().into(), chunk.clone().into()],
                )?
                .unwrap_or(0);
                counts.metadata_written += created as i64;
            }
            let basic = Spi::connect_mut(|c| -> Result<i64, GnFluxError> {
                let row = c
                    .update(
                        &self.basic,
                        None,
                        &[self.settings.source.as_str().into(), chunk.clone().into()],
                    )?
                    .first();
                Ok(row.get::<i64>(1)?.unwrap_or(0))
            })?;
            counts.metadata_written += basic;
            Spi::connect_mut(|c| -> Result<(), GnFluxError> {
                let row = c
                    .update(
                        &self.observations,
                        None,
                        &[
                            self.settings.source.as_str().into(),
                            chunk.into(),
                            self.settings.id_source.into(),
                            self.settings.default_nomenclatures.into(),
                            import_id.into(),
                        ],
                    )?
                    .first();
                counts.inserted += row.get::<i64>(1)?.unwrap_or(0);
                counts.updated += row.get::<i64>(2)?.unwrap_or(0);
                counts.rejected += row.get::<i64>(3)?.unwrap_or(0);
                counts.defaulted += row.get::<i64>(4)?.unwrap_or(0);
                Ok(())
            })?;
            let mut analyze = self.analyze.get();
            if analyze.due(counts.inserted) {
                analyze.analyze()?;
            }
            self.analyze.set(analyze);
        }
        Ok(())
    }

    /// Observations removed from the staging tables leave the Synthese (keyed by uuid).
    pub fn delete(&self, uuids: Vec<String>, counts: &mut LoadCounts) -> Result<(), GnFluxError> {
        if uuids.is_empty() {
            return Ok(());
        }
        let deleted = Spi::connect_mut(|c| -> Result<i64, GnFluxError> {
            let row = c
                .update(
                    &self.delete,
                    None,
                    &[
                        self.settings.source.as_str().into(),
                        self.settings.id_source.into(),
                        uuids.into(),
                    ],
                )?
                .first();
            Ok(row.get::<i64>(1)?.unwrap_or(0))
        })?;
        counts.deleted += deleted;
        Ok(())
    }

    /// Everything staged for the source: metadata, then every observation.
    pub fn load_all(&self, counts: &mut LoadCounts) -> Result<(), GnFluxError> {
        self.metadata(None, None, counts)?;
        let ids = staged_ids(&self.settings.source, "all")?;
        self.observations(&ids, None, counts)
    }

    /// What was rejected: metadata again (small), then the observations with a recorded problem.
    pub fn replay(&self, counts: &mut LoadCounts) -> Result<(), GnFluxError> {
        self.metadata(None, None, counts)?;
        let ids = staged_ids(&self.settings.source, "rejected")?;
        self.observations(&ids, None, counts)
    }
}

/// Ids of the staged observations of a source: every one, or those with a recorded problem.
pub fn staged_ids(source: &str, which: &str) -> Result<Vec<i32>, GnFluxError> {
    let sql = match which {
        "rejected" => {
            "SELECT pg_catalog.array_agg(DISTINCT x.id_data) FROM gn_flux.synthese_reject x
              WHERE x.source = $1 AND x.kind = 'observation' AND x.id_data IS NOT NULL"
        }
        _ => {
            "SELECT pg_catalog.array_agg(d.id_data ORDER BY d.id_data) FROM gn_flux.data_json d
              WHERE d.source = $1 AND d.controler = 'data'"
        }
    };
    Ok(Spi::get_one_with_args::<Vec<i32>>(sql, &[source.into()])?.unwrap_or_default())
}
