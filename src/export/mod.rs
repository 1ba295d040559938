//! Exports: a view or table written as csv, json, geojson, gpkg, shp (zip) or xlsx; returned as
//! bytea (`export_view`), written to a server file (`export_to_file`) or on a pg_cron schedule.
//! The registry (`gn_flux.export`), schedules and the run log are SQL in
//! sql/schema/040_exports.sql; relation checks, query building and file handling are here, the
//! writers in crates/gn_export.

pub(crate) mod files;
mod plan;
pub(crate) mod relation;
mod stream;

use crate::error::{GnFluxError, Kind, SqlResult};
use crate::ffi::{in_subtransaction, SubxactOutcome};
use gn_export::Format;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use plan::{Filters, Hints};
use std::path::{Path, PathBuf};

/// Largest bytea value PostgreSQL can build (1 GB minus the varlena header).
const MAX_BYTEA: u64 = 0x3FFF_FFFF - 4;

/// A row of gn_flux.export.
struct Registered {
    id: i32,
    label: String,
    schema_name: String,
    view_name: String,
    pk: Option<String>,
    geometry_field: Option<String>,
    geometry_srid: Option<i32>,
    /// Public exports are written readable by all, private ones by the server's OS user only.
    public: bool,
}

fn registered(label: Option<&str>) -> Result<Registered, GnFluxError> {
    let label = label.filter(|l| !l.trim().is_empty()).ok_or_else(|| {
        GnFluxError::invalid(
            "label must not be NULL or empty",
            "Give the label of a registered export: SELECT label FROM gn_flux.export.",
        )
    })?;
    let found = Spi::connect(|c| -> Result<Option<Registered>, GnFluxError> {
        let mut rows = c.select(
            "SELECT id, label, schema_name, view_name, view_pk_column, geometry_field, geometry_srid, public FROM gn_flux.export WHERE label = $1",
            Some(1),
            &[label.into()],
        )?;
        let Some(r) = rows.next() else { return Ok(None) };
        Ok(Some(Registered {
            id: r.get(1)?.unwrap_or_default(),
            label: r.get(2)?.unwrap_or_default(),
            schema_name: r.get(3)?.unwrap_or_default(),
            view_name: r.get(4)?.unwrap_or_default(),
            pk: r.get(5)?,
            geometry_field: r.get(6)?,
            geometry_srid: r.get(7)?,
            public: r.get(8)?.unwrap_or(false),
        }))
    })?;
    found.ok_or_else(|| {
        GnFluxError::unknown(
            format!("export \"{label}\" does not exist"),
            "Register it with gn_flux.add_export(label, schema_name, view_name), or see SELECT label FROM gn_flux.export.",
        )
    })
}

fn parse_filters_arg(filters: Option<&pgrx::JsonB>) -> Result<Filters, GnFluxError> {
    plan::parse_filters(filters.map(|j| &j.0))
}

fn emit_notices(summary: &gn_export::Summary) {
    for n in &summary.notices {
        pgrx::notice!("gn_flux: {n}");
    }
}

/// `gn_flux.export_view(schema_name, view_name, format, filters, srid)`: the file as bytea.
#[pg_extern(name = "export_view")]
pub fn export_view(
    schema_name: Option<&str>,
    view_name: Option<&str>,
    format: Option<&str>,
    filters: default!(Option<pgrx::JsonB>, "'{}'"),
    srid: default!(Option<i32>, "NULL"),
) -> SqlResult<Vec<u8>> {
    Ok(export_view_inner(
        schema_name,
        view_name,
        format,
        filters.as_ref(),
        srid,
    )?)
}

fn export_view_inner(
    schema_name: Option<&str>,
    view_name: Option<&str>,
    format: Option<&str>,
    filters: Option<&pgrx::JsonB>,
    srid: Option<i32>,
) -> Result<Vec<u8>, GnFluxError> {
    let format = plan::parse_format(format)?;
    let rel = relation::resolve(schema_name, view_name)?;
    let filters = parse_filters_arg(filters)?;
    // A registered export of this relation names its pk and geometry columns.
    let (pk, geometry_field): (Option<String>, Option<String>) = Spi::connect(|c| -> Result<_, GnFluxError> {
        let mut rows = c.select(
            "SELECT view_pk_column, geometry_field FROM gn_flux.export WHERE schema_name = $1 AND view_name = $2 ORDER BY id LIMIT 1",
            Some(1),
            &[rel.schema.as_str().into(), rel.name.as_str().into()],
        )?;
        Ok(match rows.next() {
            Some(r) => (r.get(1)?, r.get(2)?),
            None => (None, None),
        })
    })?;
    let plan = plan::plan(
        &rel,
        format,
        &filters,
        &Hints {
            geometry_field,
            pk,
            srid,
        },
    )?;
    let scratch = files::ScratchDir::new()?;
    let path = scratch.0.join(format!("export.{}", format.extension()));
    let summary = stream::run(&plan, &path)?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_BYTEA {
        return Err(GnFluxError::new(
            Kind::ProgramLimitExceeded,
            format!("the {} export of {} is {size} bytes, more than a bytea value can hold (1 GB)", format.name(), rel.qualified),
            "Use gn_flux.export_to_file(label, format, path), which streams to a server file of any size, or narrow the export with filters.",
        ));
    }
    emit_notices(&summary);
    std::fs::read(&path).map_err(|e| {
        GnFluxError::new(
            Kind::Io,
            format!("could not read the export back: {e}"),
            "Check the server's temporary directory.",
        )
    })
}

/// What an export written to a file reports.
struct Written {
    path: PathBuf,
    rows: i64,
    bytes: i64,
    sha256: String,
}

/// The plan of a registered export in `format` (as the calling role: it must read the view).
fn plan_registered(export: &Registered, format: Format, filters: &Filters) -> Result<plan::Plan, GnFluxError> {
    let rel = relation::resolve(Some(&export.schema_name), Some(&export.view_name))?;
    let hints = Hints {
        geometry_field: export.geometry_field.clone(),
        pk: export.pk.clone(),
        srid: if format == Format::GeoJson {
            None
        } else {
            export.geometry_srid
        },
    };
    plan::plan(&rel, format, filters, &hints)
}

/// Writes the whole of a registered export (`GET /api/exports/<id>/<format>`) to `path`, a file
/// of the API worker's private scratch directory, as the current role. Returns the rows written.
pub(crate) fn write_for_api(label: &str, format: &str, path: &Path) -> Result<u64, GnFluxError> {
    let export = registered(Some(label))?;
    let format = plan::parse_format(Some(format))?;
    let plan = plan_registered(&export, format, &Filters::default())?;
    Ok(stream::run(&plan, path)?.rows)
}

fn write_export(export: &Registered, format: Format, target: &Path, filters: &Filters) -> Result<Written, GnFluxError> {
    let plan = plan_registered(export, format, filters)?;
    let file = files::AtomicFile::create(target, files::file_mode(export.public))?;
    let summary = stream::run(&plan, &file.temp)?;
    let sha256 = gn_export::sha256_file(&file.temp).map_err(|e| {
        GnFluxError::new(
            Kind::Io,
            format!("could not checksum the export: {e}"),
            "Check the export directory.",
        )
    })?;
    let bytes = file.commit()?;
    emit_notices(&summary);
    Ok(Written {
        path: target.to_path_buf(),
        rows: summary.rows as i64,
        bytes: bytes as i64,
        sha256,
    })
}

fn log_run(
    export: &Registered,
    format: Format,
    schedule_id: Option<i32>,
    started: &str,
    outcome: Result<&Written, &str>,
) -> Result<(), GnFluxError> {
    let (status, path, rows, bytes, sha, error) = match outcome {
        Ok(w) => (
            "success",
            Some(w.path.display().to_string()),
            Some(w.rows),
            Some(w.bytes),
            Some(w.sha256.clone()),
            None,
        ),
        Err(e) => ("failed", None, None, None, None, Some(e.to_string())),
    };
    Spi::run_with_args(
        "INSERT INTO gn_flux.export_log (export_id, label, format, schedule_id, started_at, ended_at, status, path, rows, bytes, sha256, error)
         VALUES ($1, $2, $3, $4, $5::pg_catalog.timestamptz, pg_catalog.clock_timestamp(), $6, $7, $8, $9, $10, $11)",
        &[
            export.id.into(),
            export.label.as_str().into(),
            format.name().into(),
            schedule_id.into(),
            started.into(),
            status.into(),
            path.into(),
            rows.into(),
            bytes.into(),
            sha.into(),
            error.into(),
        ],
    )?;
    Ok(())
}

fn clock() -> Result<String, GnFluxError> {
    Ok(Spi::get_one::<String>("SELECT pg_catalog.clock_timestamp()::pg_catalog.text")?.unwrap_or_default())
}

/// `gn_flux.export_to_file(label, format, path, filters)`: streams a registered export to a file
/// of the server, atomically.
// The return type is spelt out in full: pgrx reads it from the signature (no type alias, not
// even SqlResult).
#[allow(clippy::type_complexity)]
#[pg_extern(name = "export_to_file")]
pub fn export_to_file(
    label: Option<&str>,
    format: Option<&str>,
    path: Option<&str>,
    filters: default!(Option<pgrx::JsonB>, "'{}'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(path, String),
            name!(rows, i64),
            name!(bytes, i64),
            name!(sha256, String),
        ),
    >,
    ErrorReport,
> {
    let w = export_to_file_inner(label, format, path, filters.as_ref())?;
    Ok(TableIterator::once((
        w.path.display().to_string(),
        w.rows,
        w.bytes,
        w.sha256,
    )))
}

fn export_to_file_inner(
    label: Option<&str>,
    format: Option<&str>,
    path: Option<&str>,
    filters: Option<&pgrx::JsonB>,
) -> Result<Written, GnFluxError> {
    files::check_file_privilege("gn_flux.export_to_file()")?;
    let export = registered(label)?;
    let format = plan::parse_format(format)?;
    let target = files::allowed_file(path)?;
    let filters = parse_filters_arg(filters)?;
    let started = clock()?;
    let written = write_export(&export, format, &target, &filters)?;
    log_run(&export, format, None, &started, Ok(&written))?;
    Ok(written)
}

/// Checks a schedule directory (used by schedule_export before creating the pg_cron job).
#[pg_extern(name = "_check_export_directory")]
pub fn check_export_directory(directory: Option<&str>) -> SqlResult<String> {
    files::check_file_privilege("gn_flux.schedule_export()")?;
    Ok(files::allowed_directory(directory)?.display().to_string())
}

/// Checks an export definition and fills in what add_export detects: the pk column, the geometry
/// column and its SRID (used by the trigger on gn_flux.export).
// The return type is spelt out in full (see export_to_file).
#[allow(clippy::type_complexity)]
#[pg_extern(name = "_check_export")]
pub fn check_export(
    schema_name: Option<&str>,
    view_name: Option<&str>,
    view_pk_column: Option<&str>,
    geometry_field: Option<&str>,
    geometry_srid: Option<i32>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(view_pk_column, String),
            name!(geometry_field, Option<String>),
            name!(geometry_srid, Option<i32>),
        ),
    >,
    ErrorReport,
> {
    let checked = check_export_inner(schema_name, view_name, view_pk_column, geometry_field, geometry_srid)?;
    Ok(TableIterator::once(checked))
}

fn check_export_inner(
    schema_name: Option<&str>,
    view_name: Option<&str>,
    view_pk_column: Option<&str>,
    geometry_field: Option<&str>,
    geometry_srid: Option<i32>,
) -> Result<(String, Option<String>, Option<i32>), GnFluxError> {
    let rel = relation::resolve(schema_name, view_name)?;
    let pk = match view_pk_column {
        Some(pk) => {
            rel.column(pk).ok_or_else(|| {
                GnFluxError::new(
                    Kind::UndefinedColumn,
                    format!("column \"{pk}\" (view_pk_column) does not exist in {}", rel.qualified),
                    "Give a column of the view that identifies its rows, or leave view_pk_column NULL to detect it.",
                )
            })?;
            pk.to_string()
        }
        None => relation::detect_pk(&rel)?,
    };
    let geometry = match geometry_field {
        Some(g) => Some(
            rel.column(g)
                .filter(|c| c.field == gn_export::FieldType::Geometry)
                .ok_or_else(|| {
                    GnFluxError::new(
                        Kind::UndefinedColumn,
                        format!(
                            "column \"{g}\" (geometry_field) does not exist in {} or is not a PostGIS geometry",
                            rel.qualified
                        ),
                        "Give a geometry column of the view, or leave geometry_field NULL to detect it.",
                    )
                })?,
        ),
        None => rel.geometry_columns().next(),
    };
    let srid = match (geometry, geometry_srid) {
        (None, Some(_)) => {
            return Err(GnFluxError::invalid(
                "geometry_srid is set but the export has no geometry column",
                "Set geometry_srid to NULL, or name a geometry column in geometry_field.",
            ))
        }
        (None, None) => None,
        (Some(_), Some(s)) => {
            let postgis = rel.postgis()?;
            let known = Spi::get_one_with_args::<bool>(
                &format!("SELECT EXISTS (SELECT 1 FROM {postgis}spatial_ref_sys WHERE srid OPERATOR(pg_catalog.=) $1)"),
                &[s.into()],
            )?
            .unwrap_or(false);
            if !known {
                return Err(GnFluxError::invalid(
                    format!("geometry_srid {s} is not in spatial_ref_sys"),
                    "Use an SRID PostGIS knows, e.g. 2154 (Lambert-93) or 4326 (WGS 84).",
                ));
            }
            Some(s)
        }
        (Some(g), None) => Some(rel.geometry_srid(g)?).filter(|s| *s > 0),
    };
    Ok((pk, geometry.map(|g| g.name.clone()), srid))
}

/// Runs one scheduled export (the command of its pg_cron job). Failures are logged in
/// gn_flux.export_log and reported as a WARNING; other schedules are separate jobs and go on.
#[pg_extern(name = "_run_export_schedule")]
pub fn run_export_schedule(schedule_id: i32) -> SqlResult<String> {
    Ok(run_schedule(schedule_id)?)
}

struct Schedule {
    format: Format,
    directory: String,
}

/// A row of gn_flux.export_schedule as a run sees it.
struct ScheduleRow {
    label: String,
    format: String,
    directory: String,
    owner: String,
    /// The current role made it, or is a superuser.
    owned: bool,
}

fn run_schedule(schedule_id: i32) -> Result<String, GnFluxError> {
    let found = Spi::connect(|c| -> Result<Option<ScheduleRow>, GnFluxError> {
        let mut rows = c.select(
            "SELECT e.label, s.format, s.directory, s.created_by::pg_catalog.text,
                    s.created_by = current_user
                      OR coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false)
               FROM gn_flux.export_schedule s JOIN gn_flux.export e ON e.id = s.export_id WHERE s.id = $1",
            Some(1),
            &[schedule_id.into()],
        )?;
        let Some(r) = rows.next() else { return Ok(None) };
        Ok(Some(ScheduleRow {
            label: r.get(1)?.unwrap_or_default(),
            format: r.get(2)?.unwrap_or_default(),
            directory: r.get(3)?.unwrap_or_default(),
            owner: r.get(4)?.unwrap_or_default(),
            owned: r.get(5)?.unwrap_or(false),
        }))
    })?;
    let Some(ScheduleRow {
        label,
        format,
        directory,
        owner,
        owned,
    }) = found
    else {
        return Err(GnFluxError::unknown(
            format!("export schedule {schedule_id} does not exist"),
            "Remove the pg_cron job (SELECT cron.unschedule(jobid) FROM cron.job WHERE command LIKE '%_run_export_schedule%'), or schedule it again with gn_flux.schedule_export().",
        ));
    };
    if !owned {
        // The schedule's directory and file names belong to the role that scheduled it.
        return Err(GnFluxError::new(
            Kind::InsufficientPrivilege,
            format!("permission denied: the {format} schedule of export \"{label}\" belongs to role \"{owner}\""),
            "Only the role that scheduled an export (its pg_cron job runs as that role) or a superuser may run it: see SELECT label, format, run_as FROM gn_flux.export_status.",
        ));
    }
    let export = registered(Some(&label))?;
    let schedule = Schedule {
        format: plan::parse_format(Some(&format))?,
        directory,
    };
    let started = clock()?;
    let stamp = Spi::get_one::<String>(
        "SELECT pg_catalog.to_char(pg_catalog.clock_timestamp(), 'YYYY_MM_DD_HH24\"h\"MI\"m\"SS')",
    )?
    .unwrap_or_default();
    let stem = gn_export::sanitize_file_stem(&export.label);
    let ext = schedule.format.extension();
    let outcome = in_subtransaction(|| -> Result<Written, GnFluxError> {
        files::check_file_privilege("a scheduled gn_flux export")?;
        let dir = files::allowed_directory(Some(&schedule.directory))?;
        let target = dir.join(gn_export::safe_fs::scheduled_file_name(&stem, &stamp, ext));
        let written = write_export(
            &export,
            schedule.format,
            &target,
            &Filters {
                filters: vec![],
                order_by: None,
                limit: None,
            },
        )?;
        // `<label>.<format>` always names the newest file, as GeoNature's scheduled exports do.
        let latest = dir.join(format!("{stem}.{ext}"));
        // A new random name: hard_link() fails rather than follow anything found there.
        let link_tmp = dir.join(format!(
            ".{stem}.{ext}.gn_flux-{}.link",
            gn_export::safe_fs::random_token()
        ));
        std::fs::hard_link(&written.path, &link_tmp)
            .and_then(|_| std::fs::rename(&link_tmp, &latest))
            .map_err(|e| {
                GnFluxError::new(
                    Kind::Io,
                    format!("could not update \"{}\": {e}", latest.display()),
                    "Check the export directory.",
                )
            })?;
        Ok(written)
    });
    let result = match outcome {
        SubxactOutcome::Done(Ok(w)) => Ok(w),
        SubxactOutcome::Done(Err(e)) => Err(e.full_text()),
        SubxactOutcome::Failed { message } => Err(message),
    };
    log_run(
        &export,
        schedule.format,
        Some(schedule_id),
        &started,
        result.as_ref().map_err(String::as_str),
    )?;
    match result {
        Ok(_) => {
            remove_expired(schedule_id, &schedule.directory, &stem, ext)?;
            Ok("success".into())
        }
        Err(message) => {
            pgrx::warning!(
                "gn_flux: scheduled export \"{}\" ({}) failed: {message}",
                export.label,
                schedule.format.name()
            );
            Ok("failed".into())
        }
    }
}

/// Removes the files of earlier successful runs of a schedule older than
/// gn_flux.export_retention_days; the newest file is always kept.
///
/// Only files this schedule names are removed, whatever gn_flux.export_log says: a logged path is
/// removed only if its directory, resolved, is the schedule's directory and its name is exactly
/// `<stem>_<YYYY_MM_DD_HHhMMmSS>.<ext>` for this export and format, and only a regular file there
/// (never a link or a directory). Other rows are left as they are.
fn remove_expired(schedule_id: i32, directory: &str, stem: &str, ext: &str) -> Result<(), GnFluxError> {
    let days = crate::gucs::EXPORT_RETENTION_DAYS.get();
    if days <= 0 {
        return Ok(());
    }
    let dir = files::allowed_directory(Some(directory))?;
    let expired: Vec<(i64, String)> = Spi::connect(|c| -> Result<Vec<(i64, String)>, GnFluxError> {
        let mut out = Vec::new();
        for r in c.select(
            "SELECT id, path FROM gn_flux.export_log
              WHERE schedule_id = $1 AND status = 'success' AND removed_at IS NULL AND path IS NOT NULL
                AND ended_at < pg_catalog.clock_timestamp() - pg_catalog.make_interval(days => $2)
                AND path <> coalesce((SELECT l.path FROM gn_flux.export_log l
                                       WHERE l.schedule_id = $1 AND l.status = 'success' ORDER BY l.id DESC LIMIT 1), '')",
            None,
            &[schedule_id.into(), days.into()],
        )? {
            out.push((r.get(1)?.unwrap_or_default(), r.get(2)?.unwrap_or_default()));
        }
        Ok(out)
    })?;
    for (id, logged) in expired {
        let Some(file) = generated_file(&dir, &logged, stem, ext) else {
            pgrx::debug1!("gn_flux: \"{logged}\" is not a file of export schedule {schedule_id}: not removed");
            continue;
        };
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                pgrx::warning!(
                    "gn_flux: could not remove expired export file \"{}\": {e}",
                    file.display()
                );
                continue;
            }
        }
        Spi::run_with_args(
            "UPDATE gn_flux.export_log SET removed_at = pg_catalog.clock_timestamp() WHERE id = $1",
            &[id.into()],
        )?;
    }
    Ok(())
}

/// The file retention may remove for a logged path: `dir/<name>` when the logged path's directory
/// resolves to `dir` (the schedule's, resolved), the name is one the schedule generates, and what
/// is there is a regular file or nothing.
fn generated_file(dir: &Path, logged: &str, stem: &str, ext: &str) -> Option<PathBuf> {
    let logged = Path::new(logged);
    let name = logged.file_name()?.to_str()?;
    if !gn_export::safe_fs::is_scheduled_file_name(name, stem, ext) {
        return None;
    }
    let parent = std::fs::canonicalize(logged.parent()?).ok()?;
    if parent != dir {
        return None;
    }
    let file = dir.join(name);
    match std::fs::symlink_metadata(&file) {
        Ok(m) if m.file_type().is_file() => Some(file),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(file),
        Err(_) => None,
    }
}

/// `gn_flux._export_file_stem(label)`: the stem of an export's scheduled file names (GeoNature's
/// rule), used by the trigger on gn_flux.export to refuse labels whose files would collide.
#[pg_extern(immutable, parallel_safe, name = "_export_file_stem")]
pub fn export_file_stem(label: &str) -> String {
    gn_export::sanitize_file_stem(label)
}

extension_sql!(
    r#"COMMENT ON FUNCTION gn_flux._export_file_stem(text) IS
  'internal: stem of the scheduled file names of an export label (accents and punctuation removed, as GeoNature does)';"#,
    name = "export_file_stem_comment",
    requires = [export_file_stem]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn export_view_writes_every_format_from_a_table() {
        Spi::run(
            "CREATE TABLE pgt_obs (id integer PRIMARY KEY, name text, geom geometry(Point, 4326));
             INSERT INTO pgt_obs VALUES (1, 'a', 'SRID=4326;POINT(6 45)'), (2, NULL, NULL);",
        )
        .unwrap();
        let gpkg = Spi::get_one::<Vec<u8>>("SELECT gn_flux.export_view('public', 'pgt_obs', 'gpkg')")
            .unwrap()
            .unwrap();
        assert_eq!(&gpkg[..16], b"SQLite format 3\0");
        let zip = Spi::get_one::<Vec<u8>>("SELECT gn_flux.export_view('public', 'pgt_obs', 'shp')")
            .unwrap()
            .unwrap();
        assert_eq!(&zip[..2], b"PK");
        let json = Spi::get_one::<String>(
            "SELECT convert_from(gn_flux.export_view('public', 'pgt_obs', 'json', '{\"id\": 1}'), 'UTF8')",
        )
        .unwrap()
        .unwrap();
        assert_eq!(json, "[{\"id\": 1, \"name\": \"a\", \"geom\": \"POINT(6 45)\"}]\n");
    }

    #[pg_test]
    #[should_panic(expected = "column \"d\" holds 5874897-12-31, beyond the dates export files can hold")]
    fn dates_beyond_the_files_range_are_refused() {
        Spi::run(
            "SET LOCAL datestyle = 'ISO, YMD';
             CREATE TABLE pgt_far (id integer PRIMARY KEY, d date);
             INSERT INTO pgt_far VALUES (1, '2024-01-01'), (2, '5874897-12-31');",
        )
        .unwrap();
        Spi::run("SELECT gn_flux.export_view('public', 'pgt_far', 'csv')").unwrap();
    }

    #[pg_test]
    fn infinite_dates_are_written_as_null() {
        Spi::run(
            "CREATE TABLE pgt_inf (id integer PRIMARY KEY, d date, ts timestamptz);
             INSERT INTO pgt_inf VALUES (1, 'infinity', '-infinity');",
        )
        .unwrap();
        let json =
            Spi::get_one::<String>("SELECT convert_from(gn_flux.export_view('public', 'pgt_inf', 'json'), 'UTF8')")
                .unwrap()
                .unwrap();
        assert_eq!(json, "[{\"id\": 1, \"d\": null, \"ts\": null}]\n");
    }

    #[pg_test]
    #[should_panic(expected = "unknown export format \"pdf\"")]
    fn unknown_formats_are_refused() {
        Spi::run("CREATE TABLE pgt_t (id integer)").unwrap();
        Spi::run("SELECT gn_flux.export_view('public', 'pgt_t', 'pdf')").unwrap();
    }
}
