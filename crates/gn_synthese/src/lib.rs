//! The GeoNature side of gn_flux's Synthese load, without PostgreSQL.
//!
//! - [`mapping`]: the observation mapping of `sql/synthese/observations.sql` ("synthese column ←
//!   expression over the staged row"), read line by line, and per-source overrides of one column;
//! - [`requirements`]: what a GeoNature database must have for the load (`check_geonature`).
//!
//! The SQL itself lives in `sql/synthese/`, one file per target, where a DBA reads it.

pub mod mapping;
pub mod requirements;

/// The observation mapping: `mapped` rows with their problems, as a `WITH` query head.
pub const OBSERVATIONS_SQL: &str = include_str!("../../../sql/synthese/observations.sql");
/// Appended to the observation mapping: the upsert and the problem records.
pub const LOAD_OBSERVATIONS_SQL: &str = include_str!("../../../sql/synthese/load_observations.sql");
/// Observations gone upstream leave the Synthese.
pub const DELETE_OBSERVATIONS_SQL: &str = include_str!("../../../sql/synthese/delete_observations.sql");
/// Basic frameworks and datasets of the flat export shapes.
pub const BASIC_METADATA_SQL: &str = include_str!("../../../sql/synthese/basic_metadata.sql");
/// Organisms, persons, frameworks, datasets and their links, several statements.
pub const METADATA_SQL: &str = include_str!("../../../sql/synthese/metadata.sql");
/// The catalog checks of `check_geonature`.
pub const CHECK_GEONATURE_SQL: &str = include_str!("../../../sql/synthese/check_geonature.sql");

/// The GeoNature version the mapping and the requirements are written for.
pub const GEONATURE_VERSION: &str = "2.17";

/// The statements of [`METADATA_SQL`], in order, with their names (the `-- statement: <name>`
/// lines split them).
pub fn metadata_statements() -> Vec<(&'static str, &'static str)> {
    split_statements(METADATA_SQL)
}

/// The statements of [`CHECK_GEONATURE_SQL`]: the catalog checks, then the nomenclature types
/// (run only when their table is there).
pub fn check_statements() -> Vec<(&'static str, &'static str)> {
    split_statements(CHECK_GEONATURE_SQL)
}

fn split_statements(text: &'static str) -> Vec<(&'static str, &'static str)> {
    const MARK: &str = "-- statement: ";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(MARK) {
        let after = &rest[start + MARK.len()..];
        let name_end = after.find('\n').unwrap_or(after.len());
        let name = after[..name_end].trim();
        let body_and_more = &after[name_end..];
        let end = body_and_more.find(MARK).unwrap_or(body_and_more.len());
        let body = body_and_more[..end].trim().trim_end_matches(';').trim();
        out.push((name, body));
        rest = &body_and_more[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_statements_are_split_in_order() {
        let names: Vec<&str> = metadata_statements().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "organisms",
                "roles",
                "acquisition frameworks",
                "acquisition framework links",
                "datasets",
                "dataset links"
            ]
        );
        for (name, body) in metadata_statements() {
            assert!(body.starts_with("--") || body.starts_with("WITH"), "{name}: {body:.40}");
            assert!(!body.ends_with(';'), "{name}");
            assert!(!body.contains("-- statement:"), "{name}");
        }
        let names: Vec<&str> = check_statements().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["catalog", "nomenclature types"]);
    }
}
