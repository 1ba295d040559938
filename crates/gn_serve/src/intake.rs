//! API POST: observations written into a named intake (`POST <root>/api/gn_flux/intake/<name>`),
//! the pure half: reading the body (a JSON array of objects, a GeoJSON FeatureCollection or one
//! Feature) with its limits, and the reply listing accepted and rejected rows.

use crate::ServeError;
use serde_json::{json, Map, Value};

/// Bodies of every other route stay below this (the login, the page forms).
pub const SMALL_BODY: usize = 64 * 1024;

/// The items of a batch, and whether they are GeoJSON features. 400 for a body that is not one
/// of the accepted shapes (with what was found), 413 beyond `max_items`.
pub fn parse_batch(body: &[u8], max_items: usize) -> Result<(Vec<Value>, bool), ServeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ServeError::bad_request(
            "empty body: send a JSON array of observations or a GeoJSON FeatureCollection",
        ));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ServeError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let (items, features) = match v {
        Value::Array(a) => (a, false),
        Value::Object(mut o) => match o.get("type").and_then(Value::as_str) {
            Some("FeatureCollection") => match o.remove("features") {
                Some(Value::Array(a)) => (a, true),
                _ => {
                    return Err(ServeError::bad_request(
                        "a FeatureCollection needs a \"features\" array",
                    ))
                }
            },
            Some("Feature") => (vec![Value::Object(o)], true),
            _ => {
                return Err(ServeError::bad_request(
                    "expected a JSON array of observations, a GeoJSON FeatureCollection or a Feature",
                ))
            }
        },
        other => {
            return Err(ServeError::bad_request(format!(
                "expected a JSON array or a GeoJSON FeatureCollection, not {}",
                match other {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    _ => "a string",
                }
            )))
        }
    };
    if items.len() > max_items {
        return Err(ServeError::new(
            413,
            format!(
                "{} observations in one request: the intake accepts at most {max_items} (send smaller batches)",
                items.len()
            ),
        ));
    }
    if items.is_empty() {
        return Err(ServeError::bad_request("the batch holds no observation"));
    }
    for (i, it) in items.iter().enumerate() {
        if !it.is_object() {
            return Err(ServeError::bad_request(format!(
                "item {i} is not a JSON object: every observation is an object (or a GeoJSON Feature)"
            )));
        }
    }
    Ok((items, features))
}

/// What happened to one row of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOutcome {
    /// Stored (and loaded into the Synthese when the intake loads): inserted, updated or unchanged.
    Accepted { uuid: Option<String>, action: &'static str },
    /// Not stored; the reasons by field (`{"field": [value, why]}`) or a single reason.
    Rejected { uuid: Option<String>, reasons: Value },
}

/// The reply: counts, then every row by its index in the batch.
pub fn reply(intake: &str, import_id: i32, rows: &[RowOutcome]) -> String {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    let mut counts = Map::new();
    for (i, r) in rows.iter().enumerate() {
        match r {
            RowOutcome::Accepted { uuid, action } => {
                *counts.entry(*action).or_insert(json!(0)) =
                    json!(counts.get(*action).and_then(Value::as_u64).unwrap_or(0) + 1);
                accepted.push(json!({"index": i, "uuid": uuid, "action": action}));
            }
            RowOutcome::Rejected { uuid, reasons } => {
                rejected.push(json!({"index": i, "uuid": uuid, "reasons": reasons}));
            }
        }
    }
    json!({
        "intake": intake,
        "import_id": import_id,
        "received": rows.len(),
        "accepted_count": accepted.len(),
        "rejected_count": rejected.len(),
        "actions": counts,
        "accepted": accepted,
        "rejected": rejected,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_read_in_their_three_shapes() {
        let (a, f) = parse_batch(br#"[{"a": 1}, {"a": 2}]"#, 10).unwrap();
        assert_eq!((a.len(), f), (2, false));
        let (a, f) = parse_batch(
            br#"{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": null}]}"#,
            10,
        )
        .unwrap();
        assert_eq!((a.len(), f), (1, true));
        let (a, f) = parse_batch(br#"{"type": "Feature", "properties": {"x": 1}, "geometry": null}"#, 10).unwrap();
        assert_eq!((a.len(), f), (1, true));
    }

    #[test]
    fn bad_batches_are_4xx_with_a_reason() {
        let e = parse_batch(b"[{\"a\": 1", 10).unwrap_err();
        assert!(e.status == 400 && e.message.contains("not valid JSON"), "{e:?}");
        assert_eq!(parse_batch(b"  ", 10).unwrap_err().status, 400);
        assert_eq!(parse_batch(b"[]", 10).unwrap_err().status, 400);
        assert!(parse_batch(b"[1]", 10).unwrap_err().message.contains("item 0"));
        assert!(parse_batch(b"\"x\"", 10).unwrap_err().message.contains("a string"));
        assert_eq!(parse_batch(b"[{}, {}, {}]", 2).unwrap_err().status, 413);
        assert!(parse_batch(br#"{"type": "FeatureCollection"}"#, 2)
            .unwrap_err()
            .message
            .contains("features"));
    }

    #[test]
    fn the_reply_lists_every_row() {
        let rows = vec![
            RowOutcome::Accepted {
                uuid: Some("u1".into()),
                action: "inserted",
            },
            RowOutcome::Rejected {
                uuid: None,
                reasons: json!({"date_min": [null, "missing"]}),
            },
            RowOutcome::Accepted {
                uuid: Some("u3".into()),
                action: "inserted",
            },
        ];
        let v: Value = serde_json::from_str(&reply("app", 7, &rows)).unwrap();
        assert_eq!(v["accepted_count"], 2);
        assert_eq!(v["actions"]["inserted"], 2);
        assert_eq!(v["rejected"][0]["index"], 1);
        assert_eq!(v["rejected"][0]["reasons"]["date_min"][1], "missing");
    }
}
