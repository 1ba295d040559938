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

/// One item of `/api/gn_commons/modules` (GeoNature's `TModules` serialisation plus the caller's
/// `cruved`), `scope` being the caller's R/E scope on the module.
pub fn module_entry(id_module: i64, code: &str, label: &str, path: &str, scope: u8) -> Value {
    serde_json::json!({
        "type": "base",
        "id_module": id_module,
        "module_code": code,
        "module_label": label,
        "module_picto": "fa-puzzle-piece",
        "module_desc": null,
        "module_group": null,
        "module_path": path,
        "module_external_url": null,
        "module_target": null,
        "module_comment": null,
        "active_frontend": true,
        "active_backend": true,
        "module_doc_url": null,
        "module_order": id_module,
        "ng_module": path,
        "meta_create_date": "2024-01-01 00:00:00",
        "meta_update_date": "2024-01-01 00:00:00",
        "objects": [],
        "module_objects": {},
        "module_url": format!("/#/{path}"),
        "cruved": {"C": 0, "R": scope, "U": 0, "V": 0, "E": scope, "D": 0},
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
        let entry = module_entry(5, "EXPORTS", "Exports", "exports", 1);
        assert_eq!(export_module_path(&json!([entry])).as_deref(), Some("exports"));
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
