//! The GeoNature load: staged observations, metadata and actors into a local GeoNature 2.17
//! (gn_synthese, gn_meta, utilisateurs), set-based, in the pull's transaction.
//!
//! - `mod.rs`: the SQL functions (enable/disable, load, replay, preview, check, overrides);
//! - `load.rs`: the prepared statements of one source's load, used by them and by pulls.
//!
//! The SQL is in sql/synthese/ (one file per target); the mapping text, the override rules and
//! the requirements are in the pure crate gn_synthese.
use crate::error::{GnFluxError, Kind, SqlResult};
use crate::ffi::{in_subtransaction, SubxactOutcome};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::JsonB;

pub mod load;

pub use load::{LoadCounts, Loader};

/// What this database lacks for the load, as (object, problem).
fn geonature_problems() -> Result<Vec<(String, String)>, GnFluxError> {
    let requirements = gn_synthese::requirements::as_json();
    let statements = gn_synthese::check_statements();
    let mut problems = Vec::new();
    let mut collect = |sql: &str| -> Result<(), GnFluxError> {
        Spi::connect(|c| -> Result<(), GnFluxError> {
            for row in c.select(
                sql,
                None,
                &[JsonB(serde_json::from_str(&requirements).unwrap_or_default()).into()],
            )? {
                problems.push((
                    row.get::<String>(1)?.unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                ));
            }
            Ok(())
        })
    };
    collect(statements[0].1)?;
    let types_table = Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                         WHERE a.attrelid = pg_catalog.to_regclass('ref_nomenclatures.bib_nomenclatures_types')
                           AND a.attname = 'mnemonique' AND NOT a.attisdropped)",
    )?
    .unwrap_or(false);
    if types_table {
        collect(statements[1].1)?;
    }
    if crate::spi::postgis_schema()?.is_none() {
        problems.insert(0, ("postgis".into(), "extension missing".into()));
    }
    Ok(problems)
}

/// 55000 with the list of problems unless this database has what the load needs.
pub fn require_geonature() -> Result<(), GnFluxError> {
    let problems = geonature_problems()?;
    if problems.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = problems.iter().take(20).map(|(o, p)| format!("{o}: {p}")).collect();
    let more = if problems.len() > 20 {
        format!("; and {} more", problems.len() - 20)
    } else {
        String::new()
    };
    Err(GnFluxError::new(
        Kind::WrongState,
        format!(
            "this database lacks {} object(s) the GeoNature load needs (it targets GeoNature {})",
            problems.len(),
            gn_synthese::GEONATURE_VERSION
        ),
        "Load into a GeoNature database (schemas gn_synthese, gn_meta, ref_nomenclatures, taxonomie, ref_geo, ref_habitats, utilisateurs); SELECT * FROM gn_flux.check_geonature() lists what is missing.",
    )
    .with_detail(format!("{}{more}", shown.join("; "))))
}

/// `gn_flux.check_geonature()`: one row per missing or different object, none when all is there.
#[pg_extern(name = "check_geonature")]
fn check_geonature() -> Result<TableIterator<'static, (name!(object, String), name!(problem, String))>, ErrorReport> {
    Ok(TableIterator::new(geonature_problems()?))
}

fn require_source(source: Option<&str>) -> Result<&str, GnFluxError> {
    let name = source
        .ok_or_else(|| GnFluxError::invalid("source must not be NULL", "Give the name of a registered source."))?;
    let exists = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM gn_flux.source s WHERE s.name = $1)",
        &[name.into()],
    )?
    .unwrap_or(false);
    if !exists {
        return Err(GnFluxError::unknown(
            format!("source \"{name}\" does not exist"),
            "See SELECT name FROM gn_flux.source.",
        ));
    }
    Ok(name)
}

fn require_enabled(source: &str) -> Result<load::Settings, GnFluxError> {
    load::Settings::of(source)?.ok_or_else(|| {
        GnFluxError::new(
            Kind::WrongState,
            format!("the GeoNature load is not enabled for source \"{source}\""),
            format!("SELECT * FROM gn_flux.enable_synthese('{source}');"),
        )
    })
}

type LoadRow = (
    name!(source, String),
    name!(inserted, i64),
    name!(updated, i64),
    name!(rejected, i64),
    name!(defaulted, i64),
    name!(deleted, i64),
    name!(metadata_written, i64),
    name!(metadata_rejected, i64),
);

fn load_row(source: &str, c: LoadCounts) -> LoadRow {
    (
        source.to_string(),
        c.inserted,
        c.updated,
        c.rejected,
        c.defaulted,
        c.deleted,
        c.metadata_written,
        c.metadata_rejected,
    )
}

/// The t_sources row of a source: found by name_source, or made.
fn t_source_id(source: &str) -> Result<i32, GnFluxError> {
    if let Some(id) = crate::spi::optional_i32(
        "SELECT t.id_source FROM gn_synthese.t_sources t WHERE t.name_source::text = $1",
        &[source.into()],
    )? {
        return Ok(id);
    }
    Spi::get_one_with_args::<i32>(
        "INSERT INTO gn_synthese.t_sources (name_source, desc_source, entity_source_pk_field)
         SELECT $1, pg_catalog.format('gn_flux: export %s of %s', s.export_id, s.url), 'id_synthese'
           FROM gn_flux.source s WHERE s.name = $1
         RETURNING id_source",
        &[source.into()],
    )?
    .ok_or_else(|| GnFluxError::internal("no t_sources id"))
}

#[allow(clippy::type_complexity)]
#[pg_extern(name = "enable_synthese")]
fn enable_synthese(
    source: Option<&str>,
    default_nomenclatures: default!(Option<bool>, "false"),
    load: default!(Option<bool>, "true"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(source, String),
            name!(inserted, i64),
            name!(updated, i64),
            name!(rejected, i64),
            name!(defaulted, i64),
            name!(deleted, i64),
            name!(metadata_written, i64),
            name!(metadata_rejected, i64),
        ),
    >,
    ErrorReport,
> {
    let source = require_source(source)?;
    require_geonature()?;
    crate::pull::lock_source(source)?;
    let id_source = t_source_id(source)?;
    Spi::run_with_args(
        "INSERT INTO gn_flux.synthese_load (source, id_source, default_nomenclatures) VALUES ($1, $2, $3)
         ON CONFLICT (source) DO UPDATE SET id_source = EXCLUDED.id_source,
                default_nomenclatures = EXCLUDED.default_nomenclatures, enabled_at = now(), enabled_by = current_user",
        &[
            source.into(),
            id_source.into(),
            default_nomenclatures.unwrap_or(false).into(),
        ],
    )
    .map_err(GnFluxError::from)?;
    let mut counts = LoadCounts::default();
    if load.unwrap_or(true) {
        let loader = Loader::new(require_enabled(source)?)?;
        loader.load_all(&mut counts)?;
    }
    Ok(TableIterator::once(load_row(source, counts)))
}

#[pg_extern(name = "disable_synthese")]
fn disable_synthese(source: Option<&str>, remove_observations: default!(Option<bool>, "false")) -> SqlResult<i64> {
    Ok(disable(source, remove_observations.unwrap_or(false))?)
}

fn disable(source: Option<&str>, remove_observations: bool) -> Result<i64, GnFluxError> {
    let source = require_source(source)?;
    let settings = require_enabled(source)?;
    crate::pull::lock_source(source)?;
    let mut removed = 0;
    if remove_observations {
        removed = Spi::get_one_with_args::<i64>(
            "WITH gone AS (DELETE FROM gn_synthese.synthese s WHERE s.id_source = $1 RETURNING 1)
             SELECT pg_catalog.count(*) FROM gone",
            &[settings.id_source.into()],
        )?
        .unwrap_or(0);
    }
    Spi::run_with_args(
        "DELETE FROM gn_flux.synthese_load l WHERE l.source = $1",
        &[source.into()],
    )?;
    Spi::run_with_args(
        "DELETE FROM gn_flux.synthese_reject x WHERE x.source = $1",
        &[source.into()],
    )?;
    Ok(removed)
}

#[allow(clippy::type_complexity)]
#[pg_extern(name = "load_synthese")]
fn load_synthese(
    source: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(source, String),
            name!(inserted, i64),
            name!(updated, i64),
            name!(rejected, i64),
            name!(defaulted, i64),
            name!(deleted, i64),
            name!(metadata_written, i64),
            name!(metadata_rejected, i64),
        ),
    >,
    ErrorReport,
> {
    Ok(TableIterator::once(load_enabled(source, Loader::load_all)?))
}

#[allow(clippy::type_complexity)]
#[pg_extern(name = "replay_synthese")]
fn replay_synthese(
    source: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(source, String),
            name!(inserted, i64),
            name!(updated, i64),
            name!(rejected, i64),
            name!(defaulted, i64),
            name!(deleted, i64),
            name!(metadata_written, i64),
            name!(metadata_rejected, i64),
        ),
    >,
    ErrorReport,
> {
    Ok(TableIterator::once(load_enabled(source, Loader::replay)?))
}

/// load_synthese and replay_synthese: a source whose load is enabled, locked like a pull.
fn load_enabled(
    source: Option<&str>,
    work: fn(&Loader, &mut LoadCounts) -> Result<(), GnFluxError>,
) -> Result<LoadRow, GnFluxError> {
    let source = require_source(source)?;
    let settings = require_enabled(source)?;
    crate::pull::lock_source(source)?;
    let mut counts = LoadCounts::default();
    work(&Loader::new(settings)?, &mut counts)?;
    Ok(load_row(source, counts))
}

const PREVIEW_TAIL: &str = "
SELECT m.staged_id AS id_data,
       CASE WHEN m.rejections <> '{}'::jsonb OR (m.nomenclature_problems <> '{}'::jsonb AND NOT $4) THEN 'reject'
            WHEN m.mine_id_synthese IS NULL THEN 'insert' ELSE 'update' END AS action,
       pg_catalog.to_jsonb(m) OPERATOR(pg_catalog.-) ARRAY['staged_id', 'mine_id_synthese', 'rejections', 'nomenclature_problems'] AS synthese,
       coalesce((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('field', p.key, 'value', p.value OPERATOR(pg_catalog.->>) 0,
                                 'problem', p.value OPERATOR(pg_catalog.->>) 1, 'action', p.action) ORDER BY p.key)
                              FROM (SELECT r.key, r.value, 'rejected' AS action FROM pg_catalog.jsonb_each(m.rejections) r
                                    UNION ALL
                                    SELECT n.key, n.value, CASE WHEN $4 AND m.rejections = '{}'::jsonb THEN 'defaulted' ELSE 'rejected' END
                                      FROM pg_catalog.jsonb_each(m.nomenclature_problems) n) p),
                           '[]'::jsonb) AS problems
  FROM mapped m ORDER BY m.staged_id";

/// The preview statement of a source (its overrides in place).
fn preview_sql(overrides: &[(String, String)]) -> Result<String, GnFluxError> {
    let postgis = crate::spi::required_postgis_schema()?;
    Ok(format!(
        "{}{PREVIEW_TAIL}",
        load::observations_sql(overrides, &postgis)?
    ))
}

#[allow(clippy::type_complexity)]
#[pg_extern(name = "synthese_preview")]
fn synthese_preview(
    source: Option<&str>,
    id_data: default!(Option<Vec<i32>>, "NULL"),
    max_rows: default!(Option<i32>, "100"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(id_data, i32),
            name!(action, String),
            name!(synthese, JsonB),
            name!(problems, JsonB),
        ),
    >,
    ErrorReport,
> {
    Ok(TableIterator::new(preview(source, id_data, max_rows.unwrap_or(100))?))
}

fn preview(
    source: Option<&str>,
    id_data: Option<Vec<i32>>,
    max_rows: i32,
) -> Result<Vec<(i32, String, JsonB, JsonB)>, GnFluxError> {
    let source = require_source(source)?;
    require_geonature()?;
    if max_rows < 0 {
        return Err(GnFluxError::invalid(
            "max_rows must not be negative",
            "Give a row count, e.g. 100.",
        ));
    }
    let (id_source, defaults) = match load::Settings::of(source)? {
        Some(s) => (s.id_source, s.default_nomenclatures),
        None => (
            crate::spi::optional_i32(
                "SELECT t.id_source FROM gn_synthese.t_sources t WHERE t.name_source::text = $1",
                &[source.into()],
            )?
            .unwrap_or(-1),
            false,
        ),
    };
    let ids = Spi::get_one_with_args::<Vec<i32>>(
        "SELECT pg_catalog.array_agg(x.id_data ORDER BY x.id_data) FROM (
             SELECT d.id_data FROM gn_flux.data_json d
              WHERE d.source = $1 AND d.controler = 'data' AND ($2::integer[] IS NULL OR d.id_data = ANY ($2::integer[]))
              ORDER BY d.id_data LIMIT $3) x",
        &[source.into(), id_data.into(), max_rows.into()],
    )?
    .unwrap_or_default();
    let sql = preview_sql(&load::effective_overrides(source, load::overrides(source)?)?)?;
    let rows = Spi::connect(|c| -> Result<Vec<(i32, String, JsonB, JsonB)>, GnFluxError> {
        let mut out = Vec::new();
        for row in c.select(
            &sql,
            None,
            &[source.into(), ids.into(), id_source.into(), defaults.into()],
        )? {
            out.push((
                row.get::<i32>(1)?.unwrap_or_default(),
                row.get::<String>(2)?.unwrap_or_default(),
                row.get::<JsonB>(3)?.unwrap_or(JsonB(serde_json::Value::Null)),
                row.get::<JsonB>(4)?.unwrap_or(JsonB(serde_json::Value::Null)),
            ));
        }
        Ok(out)
    })?;
    Ok(rows)
}

#[pg_extern(name = "set_synthese_column")]
fn set_synthese_column(source: Option<&str>, column_name: Option<&str>, expression: Option<&str>) -> SqlResult<()> {
    Ok(set_column(source, column_name, expression)?)
}

/// Why the mapping of `source` with these overrides does not compile (PostgreSQL's message),
/// or `None`. Tried in a subtransaction: a failure leaves nothing behind.
fn compile_problem(source: &str, overrides: Vec<(String, String)>) -> Result<Option<String>, GnFluxError> {
    let sql = preview_sql(&load::effective_overrides(source, overrides)?)?;
    let compiled = in_subtransaction(std::panic::AssertUnwindSafe(|| -> Result<(), GnFluxError> {
        use pgrx::pg_sys::{PgBuiltInOids as T, PgOid};
        let types = [T::TEXTOID, T::INT4ARRAYOID, T::INT4OID, T::BOOLOID].map(PgOid::BuiltIn);
        Spi::connect(|c| c.prepare(sql.as_str(), &types).map(|_| ()))?;
        Ok(())
    }));
    Ok(match compiled {
        SubxactOutcome::Done(Ok(())) => None,
        SubxactOutcome::Done(Err(e)) => Some(e.message),
        SubxactOutcome::Failed { message } => Some(message),
    })
}

/// A column a mapping may set: known, and not the load's key.
fn check_mapping_column(column: &str) -> Result<(), GnFluxError> {
    let known = gn_synthese::mapping::default_columns();
    if column == "unique_id_sinp" {
        return Err(GnFluxError::invalid(
            "unique_id_sinp cannot be overridden",
            "It is the key of the load: the staged uuid (id_perm_sinp; for other kinds options.uuid or one derived from the key) names the observation in the Synthese, for updates and deletions.",
        ));
    }
    if !known.iter().any(|c| c.name == column) {
        return Err(GnFluxError::new(
            Kind::UndefinedColumn,
            format!("\"{column}\" is not a column of the observation mapping"),
            "See SELECT column_name FROM gn_flux.synthese_mapping(); columns GeoNature fills itself (id_synthese, meta dates, sensitivity by trigger) cannot be mapped.",
        ));
    }
    Ok(())
}

#[pg_extern(name = "set_datasets")]
fn set_datasets(
    source: Option<&str>,
    key_expression: Option<&str>,
    name_expression: default!(Option<&str>, "NULL"),
) -> SqlResult<()> {
    Ok(datasets(source, key_expression, name_expression)?)
}

/// Stores (or removes) how a source's items name their dataset, each expression checked like a
/// mapping expression and compiled over the staging table.
fn datasets(source: Option<&str>, key: Option<&str>, name: Option<&str>) -> Result<(), GnFluxError> {
    let source = require_source(source)?;
    let Some(key) = key else {
        Spi::run_with_args(
            "DELETE FROM gn_flux.feed_datasets f WHERE f.source = $1",
            &[source.into()],
        )?;
        return Ok(());
    };
    let name = name.unwrap_or(key);
    for (what, e) in [("key_expression", key), ("name_expression", name)] {
        gn_synthese::mapping::validate_expression(e).map_err(|p| {
            GnFluxError::invalid(
                format!("invalid {what}: {p}"),
                "Give one SQL expression over the staged row s, e.g. s.item ->> 'datasetKey'.",
            )
        })?;
    }
    let sql = format!("SELECT CAST(({key}) AS pg_catalog.text), CAST(({name}) AS pg_catalog.text) FROM gn_flux.data_json s WHERE false");
    let compiled = in_subtransaction(std::panic::AssertUnwindSafe(|| -> Result<(), GnFluxError> {
        Spi::connect(|c| c.prepare(sql.as_str(), &[]).map(|_| ()))?;
        Ok(())
    }));
    let problem = match compiled {
        SubxactOutcome::Done(Ok(())) => None,
        SubxactOutcome::Done(Err(e)) => Some(e.message),
        SubxactOutcome::Failed { message } => Some(message),
    };
    if let Some(p) = problem {
        return Err(GnFluxError::invalid(
            format!("invalid dataset expressions for source \"{source}\": {p}"),
            "Each expression must give text from the staged row s (s.item jsonb, s.geom, s.uuid, s.id_data).",
        ));
    }
    Spi::run_with_args(
        "INSERT INTO gn_flux.feed_datasets (source, key_expression, name_expression) VALUES ($1, $2, $3)
         ON CONFLICT (source) DO UPDATE SET key_expression = EXCLUDED.key_expression,
                name_expression = EXCLUDED.name_expression, set_by = current_user, set_at = now()",
        &[source.into(), key.into(), name.into()],
    )?;
    Ok(())
}

#[pg_extern(name = "set_mapping")]
fn set_mapping(source: Option<&str>, mapping: Option<JsonB>) -> SqlResult<()> {
    Ok(replace_mapping(source, mapping)?)
}

/// Replaces the whole mapping of a source, checked as a whole: known columns, one expression
/// each, the columns a source of another kind must map, and the complete statement compiled.
fn replace_mapping(source: Option<&str>, mapping: Option<JsonB>) -> Result<(), GnFluxError> {
    let source = require_source(source)?;
    let hint = "Give a JSON object {\"synthese column\": \"SQL expression over s\"}, e.g. gn_flux.example_mapping('gbif', '<dataset uuid>').";
    let Some(serde_json::Value::Object(obj)) = mapping.map(|m| m.0) else {
        return Err(GnFluxError::invalid("mapping must be a JSON object", hint));
    };
    let mut overrides = Vec::new();
    for (column, v) in obj {
        check_mapping_column(&column)?;
        let Some(expression) = v.as_str() else {
            return Err(GnFluxError::invalid(
                format!("the expression for column {column} must be a JSON string"),
                hint,
            ));
        };
        gn_synthese::mapping::validate_expression(expression).map_err(|e| {
            GnFluxError::invalid(
                format!("invalid expression for column {column}: {e}"),
                "Give one SQL expression over the staged row s (s.item jsonb, s.geom, s.uuid, s.id_data).",
            )
        })?;
        overrides.push((column, expression.to_string()));
    }
    let kind = Spi::get_one_with_args::<String>(
        "SELECT s.kind FROM gn_flux.source s WHERE s.name = $1",
        &[source.into()],
    )?
    .unwrap_or_default();
    if kind != "geonature" {
        let missing: Vec<&str> = gn_synthese::mapping::FEED_REQUIRED
            .iter()
            .copied()
            .filter(|c| {
                !overrides
                    .iter()
                    .any(|(n, e)| n == c && !e.trim().eq_ignore_ascii_case("null"))
            })
            .collect();
        if !missing.is_empty() {
            return Err(GnFluxError::new(
                Kind::NotNullViolation,
                format!("the mapping of source \"{source}\" gives no value for {}", missing.join(", ")),
                "GeoNature requires them (nom_cite, date_min and date_max are NOT NULL; every observation needs a dataset): map each, e.g. \"id_dataset\": \"'<dataset uuid>'\", \"date_min\": \"gn_flux.date_start(s.item ->> 'date')\".",
            ));
        }
    }
    require_geonature()?;
    if let Some(p) = compile_problem(source, overrides.clone())? {
        return Err(GnFluxError::invalid(
            format!("invalid mapping for source \"{source}\": {p}"),
            "Each expression must give the column's type (text for most, geometry for the_geom_4326, jsonb for additional_data and id_area_attachment) from the staged row s; SELECT * FROM gn_flux.synthese_mapping(source) shows the result.",
        ));
    }
    Spi::run_with_args(
        "DELETE FROM gn_flux.synthese_column o WHERE o.source = $1",
        &[source.into()],
    )?;
    for (column, expression) in overrides {
        Spi::run_with_args(
            "INSERT INTO gn_flux.synthese_column (source, column_name, expression) VALUES ($1, $2, $3)",
            &[source.into(), column.into(), expression.into()],
        )?;
    }
    Ok(())
}

fn set_column(source: Option<&str>, column_name: Option<&str>, expression: Option<&str>) -> Result<(), GnFluxError> {
    let source = require_source(source)?;
    let column = column_name.ok_or_else(|| {
        GnFluxError::invalid(
            "column_name must not be NULL",
            "Give a gn_synthese.synthese column of the mapping.",
        )
    })?;
    check_mapping_column(column)?;
    let Some(expression) = expression else {
        Spi::run_with_args(
            "DELETE FROM gn_flux.synthese_column o WHERE o.source = $1 AND o.column_name = $2",
            &[source.into(), column.into()],
        )?;
        return Ok(());
    };
    gn_synthese::mapping::validate_expression(expression).map_err(|e| {
        GnFluxError::invalid(
            format!("invalid expression for column {column}: {e}"),
            "Give one SQL expression over the staged row s (s.item jsonb, s.geom, s.uuid, s.id_data), e.g. coalesce(s.item ->> 'sexe', '6').",
        )
    })?;
    require_geonature()?;
    // The other overrides of the source, and this one: the whole mapping must compile.
    let mut overrides: Vec<(String, String)> = load::overrides(source)?
        .into_iter()
        .filter(|(c, _)| c != column)
        .collect();
    overrides.push((column.to_string(), expression.to_string()));
    if let Some(p) = compile_problem(source, overrides)? {
        return Err(GnFluxError::invalid(
            format!("invalid expression for column {column}: {p}"),
            format!(
                "The expression must give {} from the staged row s (s.item jsonb, s.geom, s.uuid, s.id_data).",
                gn_synthese::mapping::value_type(column)
            ),
        ));
    }
    Spi::run_with_args(
        "INSERT INTO gn_flux.synthese_column (source, column_name, expression) VALUES ($1, $2, $3)
         ON CONFLICT (source, column_name) DO UPDATE SET expression = EXCLUDED.expression,
                set_by = current_user, set_at = now()",
        &[source.into(), column.into(), expression.into()],
    )?;
    Ok(())
}

#[allow(clippy::type_complexity)]
#[pg_extern(name = "synthese_mapping")]
fn synthese_mapping(
    source: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(column_name, String),
            name!(expression, String),
            name!(value_type, String),
            name!(overridden, bool),
        ),
    >,
    ErrorReport,
> {
    let overrides: Vec<(String, String)> = match source {
        Some(s) => {
            let s = require_source(Some(s))?;
            Spi::connect(|c| -> Result<Vec<(String, String)>, GnFluxError> {
                let mut out = Vec::new();
                for row in c.select(
                    "SELECT o.column_name, o.expression FROM gn_flux.synthese_column o WHERE o.source = $1",
                    None,
                    &[s.into()],
                )? {
                    out.push((
                        row.get::<String>(1)?.unwrap_or_default(),
                        row.get::<String>(2)?.unwrap_or_default(),
                    ));
                }
                Ok(out)
            })?
        }
        None => Vec::new(),
    };
    let rows: Vec<(String, String, String, bool)> = gn_synthese::mapping::default_columns()
        .into_iter()
        .map(|c| {
            let o = overrides.iter().find(|(n, _)| *n == c.name);
            let ty = gn_synthese::mapping::value_type(&c.name).to_string();
            match o {
                Some((_, e)) => (c.name, e.clone(), ty, true),
                None => (c.name, c.expression, ty, false),
            }
        })
        .collect();
    Ok(TableIterator::new(rows))
}

/// A timestamp as GeoNature exports write them, NULL when the text is not one.
#[pg_extern(name = "to_timestamp_or_null", immutable, parallel_safe, strict)]
fn to_timestamp_or_null(value: &str) -> Option<pgrx::datum::Timestamp> {
    use chrono::{Datelike, Timelike};
    // The Synthese holds local wall times: a value with an offset keeps its clock time.
    let with_t = value.trim().replacen(' ', "T", 1);
    let ts = chrono::DateTime::parse_from_rfc3339(&with_t)
        .map(|d| d.naive_local())
        .ok()
        .or_else(|| gn_protocol::time::parse_timestamp(value))?;
    let seconds = ts.second() as f64 + ts.nanosecond() as f64 / 1e9;
    pgrx::datum::Timestamp::new(
        ts.year(),
        ts.month() as u8,
        ts.day() as u8,
        ts.hour() as u8,
        ts.minute() as u8,
        seconds,
    )
    .ok()
}

/// The JSON document in a text, NULL when it is not JSON.
#[pg_extern(name = "to_jsonb_or_null", immutable, parallel_safe, strict)]
fn to_jsonb_or_null(value: &str) -> Option<JsonB> {
    serde_json::from_str::<serde_json::Value>(value).ok().map(JsonB)
}
