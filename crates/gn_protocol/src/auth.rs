//! Login (`POST /api/auth/login`) and module discovery (`GET /api/gn_commons/modules`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of `POST /api/auth/login`. GeoNature requires `login` and `password`; gn2pg never sends
/// `id_application`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_application: Option<i64>,
}

/// What a client keeps from a successful login reply (`{"user", "token", "expires"}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LoginReply {
    pub token: String,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub user: Value,
}

/// Name of the remember-me cookie pypnusershub sets (`REMEMBER_COOKIE_NAME`).
pub const REMEMBER_COOKIE: &str = "token";
/// Name of Flask's session cookie.
pub const SESSION_COOKIE: &str = "session";
/// Marker of GeoNature's login page in a redirect target (`…/#/login?next=…`).
pub const LOGIN_REDIRECT_MARKER: &str = "login?next=";

/// Message of a refused login (pypnusershub 3.x `IncorrectLoginError`, HTTP 401).
pub const INCORRECT_LOGIN: &str = "Incorrect login, check username or password.";

/// Finds the Export module's path in a `/api/gn_commons/modules` reply (first item whose
/// `module_code` is `EXPORTS`, as gn2pg does).
pub fn export_module_path(modules: &Value) -> Option<String> {
    modules.as_array()?.iter().find_map(|m| {
        if m.get("module_code")?.as_str()? == crate::EXPORTS_MODULE_CODE {
            m.get("module_path")?.as_str().map(|p| p.trim_matches('/').to_string())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_exports_module() {
        let m = json!([{"module_code": "GEONATURE", "module_path": "geonature"},
                       {"module_code": "EXPORTS", "module_path": "exports"}]);
        assert_eq!(export_module_path(&m).as_deref(), Some("exports"));
        assert_eq!(export_module_path(&json!([{"module_code": "SYNTHESE"}])), None);
        assert_eq!(export_module_path(&json!({"a": 1})), None);
    }

    #[test]
    fn login_request_without_application() {
        let r = LoginRequest {
            login: "a".into(),
            password: "b".into(),
            id_application: None,
        };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"login":"a","password":"b"}"#);
    }
}
