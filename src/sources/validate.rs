//! Validation of a source definition, shared by add_source() and the trigger on gn_flux.source
//! (so a DBA's UPDATE gets the same checks). Pure Rust: no PostgreSQL calls.

use crate::error::GnFluxError;

/// GN2PG data types gn_flux knows how to store.
pub const DATA_TYPES: [&str; 4] = [
    "synthese_with_cd_nomenclature",
    "synthese_with_label",
    "synthese_with_metadata",
    "synthese_with_metadata_separated",
];

pub const PAGE_SIZE_MAX: i32 = 10_000;
pub const MAX_RETRIES_MAX: i32 = 20;

/// GN2PG's `simplify()`: lower case, accents stripped, spaces, `-` and `~` to `_`, other
/// punctuation removed. A valid source name is its own simplification.
pub fn simplify_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        let c = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'a',
            'ç' | 'Ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
            'ñ' | 'Ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
            'ÿ' | 'ý' | 'Ý' => 'y',
            ' ' | '-' | '~' => '_',
            c => c,
        };
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        }
    }
    out
}

fn invalid(message: String, hint: &str) -> GnFluxError {
    GnFluxError::invalid(message, hint)
}

pub fn check_name(name: &str) -> Result<(), GnFluxError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        return Ok(());
    }
    let simple = simplify_name(name);
    let hint = if simple.is_empty() || simple.len() > 63 {
        "Use 1 to 63 lower-case letters, digits or underscores (GN2PG's simplified source name).".to_string()
    } else {
        format!("Use lower-case letters, digits and underscores only, e.g. '{simple}' (GN2PG's simplified form).")
    };
    Err(invalid(format!("invalid source name \"{name}\""), &hint))
}

/// Checks a GeoNature root URL and returns it without a trailing slash.
pub fn check_url(raw: &str) -> Result<String, GnFluxError> {
    let hint = "Give the GeoNature root over http or https, e.g. 'https://geonature.example.org/geonature' (the API is under /api/).";
    let parsed = url::Url::parse(raw.trim())
        .map_err(|e| invalid(format!("invalid url \"{}\": {e}", mask_userinfo(raw)), hint))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(
            format!("invalid url \"{}\": scheme must be http or https", mask_userinfo(raw)),
            hint,
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("invalid url \"{raw}\": no host"), hint));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            format!(
                "invalid url \"{}\": credentials must not be part of the url",
                mask_userinfo(raw)
            ),
            "Pass them as login and password (stored where other roles cannot read them).",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(
            format!("invalid url \"{raw}\": no query string or fragment expected"),
            "Give the GeoNature root only; extra export parameters go in query_strings, the export token in token.",
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

fn mask_userinfo(raw: &str) -> String {
    match (raw.find("://"), raw.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &raw[..s], &raw[at + 1..]),
        _ => raw.to_string(),
    }
}

pub fn check_data_type(data_type: &str) -> Result<(), GnFluxError> {
    if DATA_TYPES.contains(&data_type) {
        return Ok(());
    }
    Err(invalid(
        format!("unknown data_type \"{data_type}\""),
        &format!("Use one of: {}.", DATA_TYPES.join(", ")),
    ))
}

pub fn check_range(what: &str, value: i64, min: i64, max: i64) -> Result<(), GnFluxError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(invalid(
        format!("{what} must be between {min} and {max} (got {value})"),
        &format!("Give a {what} between {min} and {max}."),
    ))
}

pub fn check_query_strings(qs: &serde_json::Value) -> Result<Vec<(String, String)>, GnFluxError> {
    let hint = "Give a JSON object of scalar values, e.g. '{\"orderby\": \"id_synthese\", \"cd_nom\": 61098}'.";
    let Some(obj) = qs.as_object() else {
        return Err(invalid("query_strings must be a JSON object".into(), hint));
    };
    let mut out = Vec::new();
    for (k, v) in obj {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(invalid(
                    format!("query_strings.{k} must be a string, number or boolean"),
                    hint,
                ))
            }
        };
        if k == "token" {
            return Err(invalid(
                "query_strings must not carry the export token".into(),
                "Pass it as token: it is then sent in the api-key header and kept secret.",
            ));
        }
        out.push((k.clone(), text));
    }
    Ok(out)
}

pub fn check_credentials(login: Option<&str>, password: Option<&str>) -> Result<(), GnFluxError> {
    match (login, password) {
        (Some(l), Some(_)) if l.trim().is_empty() => Err(invalid(
            "login must not be empty".into(),
            "Give the GeoNature login, or neither login nor password.",
        )),
        (Some(_), None) => Err(invalid(
            "login given without a password".into(),
            "Give both login and password, or neither.",
        )),
        (None, Some(_)) => Err(invalid(
            "password given without a login".into(),
            "Give both login and password, or neither.",
        )),
        _ => Ok(()),
    }
}

pub fn check_module_path(path: Option<&str>) -> Result<(), GnFluxError> {
    match path {
        Some(p) if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
            Err(invalid(
                format!("invalid module_path \"{p}\""),
                "Give the Export module path as GeoNature lists it (usually exports), or NULL to discover it.",
            ))
        }
        _ => Ok(()),
    }
}

pub fn check_paging(paging: &str) -> Result<(), GnFluxError> {
    if matches!(paging, "keyset" | "offset") {
        return Ok(());
    }
    Err(invalid(
        format!("unknown paging \"{paging}\""),
        "Use keyset (default) or offset.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_gn2pg_simplify() {
        assert_eq!(simplify_name("Parc des Écrins - Faune"), "parc_des_ecrins___faune");
        assert!(check_name("source_demo").is_ok());
        assert!(check_name("Source Demo").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            check_url("https://h.example.org/geonature/").unwrap(),
            "https://h.example.org/geonature"
        );
        assert!(check_url("ftp://h/x").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url("https://u:p@h/geonature").is_err());
        assert!(check_url("https://h/geonature?token=x").is_err());
        let e = check_url("https://u:secret@h/x").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn query_strings() {
        let q = check_query_strings(&serde_json::json!({"cd_nom": 61098, "orderby": "id_synthese"})).unwrap();
        assert_eq!(q.len(), 2);
        assert!(check_query_strings(&serde_json::json!([1])).is_err());
        assert!(check_query_strings(&serde_json::json!({"a": {"b": 1}})).is_err());
        assert!(check_query_strings(&serde_json::json!({"token": "x"})).is_err());
    }
}
