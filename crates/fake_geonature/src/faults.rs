//! Fault injection: rules that make matching requests fail, and server-wide misbehaviours.

use crate::mutation::MutationRequest;
use serde::{Deserialize, Serialize};

/// What a rule does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FaultAction {
    /// Answer with this status (e.g. 429, 500, 503), optionally with `Retry-After` (seconds).
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Wait before answering (the normal answer follows).
    Delay { ms: u64 },
    /// Announce the full body length but send only the first half, then close the connection.
    Truncate,
    /// Send a 200 with a body that is not JSON.
    Garbage,
    /// Apply this mutation when the rule fires, then answer normally (a change in the middle of
    /// a walk; choose the request with `after`).
    Mutate { mutation: MutationRequest },
    /// Send a 200 whose body is `bytes` long (`[` then spaces): with a Content-Length, or
    /// `chunked` without one.
    Huge {
        bytes: u64,
        #[serde(default)]
        chunked: bool,
    },
    /// Answer the body of the previous 200 export reply again, whatever was asked (a stuck cache).
    Repeat,
    /// Answer this JSON body with this status (default 200), e.g. a hand-made export page.
    Reply {
        #[serde(default = "ok_status")]
        status: u16,
        body: String,
    },
}

fn ok_status() -> u16 {
    200
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Requests whose path (after the GeoNature prefix) starts with this; empty = every API path.
    #[serde(default)]
    pub path: String,
    #[serde(flatten)]
    pub action: FaultAction,
    /// How many matching requests to affect (then the rule is dropped); default 1.
    #[serde(default = "one")]
    pub times: u64,
    /// Let this many matching requests through untouched first (fail "in the middle").
    #[serde(default)]
    pub after: u64,
}

fn one() -> u64 {
    1
}

/// The server-wide fault state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Sessions (and their tokens) expire after this many authenticated requests each.
    #[serde(default)]
    pub session_max_requests: Option<u64>,
    /// Ignore `filter_n_up_/lo_id_synthese` (and the date-form bounds) on the id column.
    #[serde(default)]
    pub ignore_keyset: bool,
}

impl Faults {
    /// The action to apply to a request on `path`, consuming one use of the first matching rule.
    pub fn take(&mut self, path: &str) -> Option<FaultAction> {
        let idx = self.rules.iter().position(|r| path.starts_with(&r.path))?;
        let rule = &mut self.rules[idx];
        if rule.after > 0 {
            rule.after -= 1;
            return None;
        }
        let action = rule.action.clone();
        rule.times = rule.times.saturating_sub(1);
        if rule.times == 0 {
            self.rules.remove(idx);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_count_down() {
        let mut f: Faults = serde_json::from_str(
            r#"{"rules": [{"path": "/api/exports", "kind": "status", "status": 503, "retry_after": 1, "times": 2, "after": 1}],
                "session_max_requests": 3}"#,
        )
        .unwrap();
        assert_eq!(f.session_max_requests, Some(3));
        assert_eq!(f.take("/api/synthese/log"), None);
        assert_eq!(f.take("/api/exports/api/1"), None, "after: first one passes");
        let want = Some(FaultAction::Status {
            status: 503,
            retry_after: Some(1),
        });
        assert_eq!(f.take("/api/exports/api/1"), want);
        assert_eq!(f.take("/api/exports/api/1"), want);
        assert_eq!(f.take("/api/exports/api/1"), None);
        assert!(f.rules.is_empty());
    }

    #[test]
    fn new_actions_parse() {
        let f: Faults = serde_json::from_str(
            r#"{"rules": [
                {"path": "/api/exports", "kind": "mutate", "mutation": {"delete_ids": [3, 4]}, "after": 5},
                {"kind": "huge", "bytes": 1000, "chunked": true},
                {"kind": "repeat", "times": 3},
                {"kind": "reply", "body": "{}"}]}"#,
        )
        .unwrap();
        assert_eq!(
            f.rules[0].action,
            FaultAction::Mutate {
                mutation: MutationRequest {
                    delete_ids: vec![3, 4],
                    ..MutationRequest::default()
                }
            }
        );
        assert_eq!(f.rules[0].after, 5);
        assert_eq!(
            f.rules[1].action,
            FaultAction::Huge {
                bytes: 1000,
                chunked: true
            }
        );
        assert_eq!((&f.rules[2].action, f.rules[2].times), (&FaultAction::Repeat, 3));
        assert_eq!(
            f.rules[3].action,
            FaultAction::Reply {
                status: 200,
                body: "{}".into()
            }
        );
    }
}
