//! The observation mapping, one synthese column per line of `sql/synthese/observations.sql`
//! between `-- mapping begin` and `-- mapping end`, each `<expression> AS <column>[,]`, and the
//! per-source overrides that replace one line (`gn_flux.set_synthese_column`).

use crate::OBSERVATIONS_SQL;

const BEGIN: &str = "-- mapping begin";
const END: &str = "-- mapping end";

/// One line of the mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub expression: String,
}

/// Columns a source of another kind than geonature must map: GeoNature's NOT NULL columns
/// (id_source is the load's own) and the dataset, without which the load rejects every row.
pub const FEED_REQUIRED: [&str; 4] = ["id_dataset", "nom_cite", "date_min", "date_max"];

/// The mapping of a source of another kind: its own expressions, and for every other column
/// NULL — except unique_id_sinp (the staged uuid), the_geom_4326 (the staged geometry) and
/// entity_source_pk_value (the item's key): the GeoNature-export defaults do not apply.
pub fn with_feed_base(mut own: Vec<(String, String)>) -> Vec<(String, String)> {
    for c in default_columns() {
        if own.iter().any(|(n, _)| n == &c.name) {
            continue;
        }
        let e = match c.name.as_str() {
            "unique_id_sinp" | "the_geom_4326" => continue,
            "entity_source_pk_value" => "gn_flux._feed_key(s.id_data)",
            _ => "NULL",
        };
        own.push((c.name, e.to_string()));
    }
    own
}

/// What a column's expression must give (an override is cast to it).
pub fn value_type(column: &str) -> &'static str {
    match column {
        "the_geom_4326" => "geometry",
        "id_area_attachment" | "additional_data" => "jsonb",
        _ => "text",
    }
}

/// The mapping lines of `sql` (the default: [`OBSERVATIONS_SQL`]).
pub fn columns(sql: &str) -> Result<Vec<Column>, String> {
    let (_, body, _) = split(sql)?;
    body.lines().filter(|l| !l.trim().is_empty()).map(parse_line).collect()
}

/// The default mapping.
pub fn default_columns() -> Vec<Column> {
    columns(OBSERVATIONS_SQL).expect("sql/synthese/observations.sql has a valid mapping block")
}

fn split(sql: &str) -> Result<(&str, &str, &str), String> {
    let b = sql.find(BEGIN).ok_or("no '-- mapping begin' line")?;
    let body_start = b + sql[b..].find('\n').ok_or("nothing after '-- mapping begin'")? + 1;
    let e = sql[body_start..].find(END).ok_or("no '-- mapping end' line")? + body_start;
    Ok((&sql[..body_start], &sql[body_start..e], &sql[e..]))
}

fn parse_line(line: &str) -> Result<Column, String> {
    let l = line.trim().trim_end_matches(',');
    let at = l
        .rfind(" AS ")
        .ok_or_else(|| format!("mapping line without ' AS ': {line}"))?;
    let name = l[at + 4..].trim().trim_matches('"').to_string();
    let expression = l[..at].trim().to_string();
    if name.is_empty() || expression.is_empty() {
        return Err(format!("incomplete mapping line: {line}"));
    }
    Ok(Column { name, expression })
}

fn quoted(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
        && name != "precision"
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `sql` with the expressions of `overrides` (column, expression) in place of the defaults, each
/// cast to the column's value type (`@postgis@` stays for the caller to replace).
pub fn with_overrides(sql: &str, overrides: &[(String, String)]) -> Result<String, String> {
    let (head, body, tail) = split(sql)?;
    let cols = columns(sql)?;
    for (name, expr) in overrides {
        if !cols.iter().any(|c| &c.name == name) {
            return Err(format!("unknown mapping column {name}"));
        }
        validate_expression(expr)?;
    }
    let indent = body
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| &l[..l.len() - l.trim_start().len()])
        .unwrap_or("           ");
    let mut lines = Vec::with_capacity(cols.len());
    for (i, c) in cols.iter().enumerate() {
        let expr = match overrides.iter().find(|(n, _)| n == &c.name) {
            Some((_, e)) => {
                let ty = match value_type(&c.name) {
                    "geometry" => "@postgis@.geometry",
                    "jsonb" => "pg_catalog.jsonb",
                    _ => "pg_catalog.text",
                };
                format!("CAST(({e}) AS {ty}) /* overridden */")
            }
            None => c.expression.clone(),
        };
        let comma = if i + 1 < cols.len() { "," } else { "" };
        lines.push(format!("{indent}{expr} AS {}{comma}", quoted(&c.name)));
    }
    Ok(format!("{head}{}\n{tail}", lines.join("\n")))
}

/// An override is one SQL expression over the staged row `s`: no statement separator, no
/// comment (it would swallow the rest of the line), no dollar quoting or parameter, quotes and
/// parentheses balanced — so that it cannot leave its place in the mapping.
pub fn validate_expression(expr: &str) -> Result<(), String> {
    let e = expr.trim();
    if e.is_empty() {
        return Err("the expression is empty".into());
    }
    if e.len() > 4000 {
        return Err("the expression is longer than 4000 characters".into());
    }
    // E'…' strings end where a backslash says they do not: no backslash at all
    if e.contains('\\') {
        return Err("'\\' is not allowed (no escape strings)".into());
    }
    if e.contains('\n') || e.contains('\r') {
        return Err("the expression must fit on one line".into());
    }
    let mut depth: i32 = 0;
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                // a quoted literal or identifier; a doubled quote stays inside it
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated {c}quoted{c} text")),
                        Some(q) if q == c => {
                            if chars.peek() == Some(&c) {
                                chars.next();
                            } else {
                                break;
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
            ';' => return Err("';' is not allowed: one expression, not statements".into()),
            '$' => return Err("'$' is not allowed (no parameters or dollar quoting)".into()),
            '-' if chars.peek() == Some(&'-') => return Err("comments ('--') are not allowed".into()),
            '/' if chars.peek() == Some(&'*') => return Err("comments ('/*') are not allowed".into()),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced parentheses".into());
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mapping_names_every_synthese_column_it_fills() {
        let cols = default_columns();
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(cols.len(), 54, "{names:?}");
        for n in [
            "unique_id_sinp",
            "id_dataset",
            "cd_nom",
            "date_min",
            "the_geom_4326",
            "precision",
            "id_nomenclature_sex",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        let date_min = cols.iter().find(|c| c.name == "date_min").unwrap();
        assert_eq!(date_min.expression, "s.item ->> 'date_debut'");
        // GN2PG reads cd_hab, which the views do not emit
        assert_eq!(
            cols.iter().find(|c| c.name == "cd_hab").unwrap().expression,
            "s.item ->> 'code_habitat'"
        );
    }

    #[test]
    fn without_overrides_the_sql_is_unchanged() {
        assert_eq!(with_overrides(OBSERVATIONS_SQL, &[]).unwrap(), OBSERVATIONS_SQL);
    }

    #[test]
    fn an_override_replaces_one_line_cast_to_the_value_type() {
        let sql = with_overrides(
            OBSERVATIONS_SQL,
            &[
                ("observers".into(), "upper(s.item ->> 'observateurs')".into()),
                ("the_geom_4326".into(), "s.geom".into()),
            ],
        )
        .unwrap();
        assert!(
            sql.contains("CAST((upper(s.item ->> 'observateurs')) AS pg_catalog.text) /* overridden */ AS observers,")
        );
        assert!(sql.contains("CAST((s.geom) AS @postgis@.geometry) /* overridden */ AS the_geom_4326,"));
        let cols = columns(&sql).unwrap();
        assert_eq!(cols.len(), 54);
        assert_eq!(sql.lines().count(), OBSERVATIONS_SQL.lines().count());
    }

    #[test]
    fn unknown_columns_and_escaping_expressions_are_refused() {
        let err = with_overrides(OBSERVATIONS_SQL, &[("nope".into(), "1".into())]).unwrap_err();
        assert!(err.contains("unknown mapping column"), "{err}");
        for bad in [
            "1) AS x FROM pg_user; --",
            "s.item ->> 'a' -- comment",
            "1 /* x */",
            "'unterminated",
            "\"unterminated",
            "(1",
            "1)",
            "$1",
            "$$x$$",
            "",
            "1\n, 2",
            "E'\\'' ; DROP TABLE x --'",
        ] {
            assert!(validate_expression(bad).is_err(), "{bad:?} was accepted");
        }
        for good in [
            "s.item ->> 'sexe'",
            "coalesce(s.item ->> 'sexe', '6')",
            "'it''s; fine -- inside quotes'",
            "\"weird\"\"name\"",
            "CASE WHEN (s.item ->> 'x') = 'a' THEN '1' END",
        ] {
            assert!(validate_expression(good).is_ok(), "{good:?} was refused");
        }
    }
}
