//! Users, sessions and tokens, as pypnusershub 3.x and the Export module handle them.
//!
//! A login creates a server-side session (Flask's `session` cookie), sets the remember-me cookie
//! `token`, and returns a signed JWT-like token accepted back as `Authorization: Bearer`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone)]
pub struct User {
    pub id_role: i64,
    pub login: String,
    pub password: String,
    pub nom: String,
    pub prenom: String,
    /// R scope on the EXPORTS module (0 = no access, 3 = every export).
    pub exports_scope: u8,
}

impl User {
    pub fn new(id_role: i64, login: &str, password: &str, exports_scope: u8) -> User {
        User {
            id_role,
            login: login.into(),
            password: password.into(),
            nom: login.to_uppercase(),
            prenom: "Agent".into(),
            exports_scope,
        }
    }
}

/// The default accounts: `admin` sees every export; `observer` has no EXPORTS permission
/// (its module list lacks EXPORTS, as with gn2pg #120).
pub fn default_users() -> Vec<User> {
    vec![
        User::new(1, "admin", "admin", 3),
        User::new(2, "observer", "observer", 0),
    ]
}

#[derive(Debug, Clone)]
struct Session {
    id_role: i64,
    requests: u64,
}

pub struct Auth {
    pub users: Vec<User>,
    secret: Vec<u8>,
    sessions: HashMap<String, Session>,
    counter: u64,
    pub logins: u64,
}

impl Auth {
    pub fn new(users: Vec<User>, seed: u64) -> Auth {
        Auth {
            users,
            secret: format!("fake-geonature-secret-{seed}").into_bytes(),
            sessions: HashMap::new(),
            counter: 0,
            logins: 0,
        }
    }

    pub fn user(&self, id_role: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id_role == id_role)
    }

    fn sign(&self, data: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(data.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Checks credentials; on success returns `(session id, jwt)`.
    pub fn login(&mut self, login: &str, password: &str, now_epoch: i64) -> Option<(String, String, User)> {
        let user = self
            .users
            .iter()
            .find(|u| u.login == login && u.password == password)?
            .clone();
        self.counter += 1;
        self.logins += 1;
        let sid = {
            let raw = format!("{}:{}:{}", user.id_role, self.counter, now_epoch);
            format!("{}.{}", URL_SAFE_NO_PAD.encode(raw.as_bytes()), &self.sign(&raw)[..16])
        };
        self.sessions.insert(
            sid.clone(),
            Session {
                id_role: user.id_role,
                requests: 0,
            },
        );
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"id_role": user.id_role, "identifiant": user.login, "sid": sid, "exp": now_epoch + 7 * 86_400}).to_string(),
        );
        let signing_input = format!("{header}.{payload}");
        let jwt = format!("{signing_input}.{}", self.sign(&signing_input));
        Some((sid, jwt, user))
    }

    /// The session id inside a bearer token, if its signature is valid and it has not expired.
    pub fn session_of_jwt(&self, jwt: &str, now_epoch: i64) -> Option<String> {
        let (signing_input, sig) = jwt.rsplit_once('.')?;
        if self.sign(signing_input) != sig {
            return None;
        }
        let payload = signing_input.split('.').nth(1)?;
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims.get("exp")?.as_i64()? < now_epoch {
            return None;
        }
        claims.get("sid")?.as_str().map(str::to_string)
    }

    /// Counts one authenticated request on a session and returns its user; `None` when the
    /// session is unknown or has expired (after `max_requests` requests, when set).
    pub fn use_session(&mut self, sid: &str, max_requests: Option<u64>) -> Option<User> {
        let s = self.sessions.get_mut(sid)?;
        s.requests += 1;
        if let Some(max) = max_requests {
            if s.requests > max {
                self.sessions.remove(sid);
                return None;
            }
        }
        let id = s.id_role;
        self.user(id).cloned()
    }

    pub fn reset(&mut self) {
        self.sessions.clear();
        self.logins = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_jwt_and_expiry() {
        let mut a = Auth::new(default_users(), 1);
        assert!(a.login("admin", "wrong", 0).is_none());
        let (sid, jwt, user) = a.login("admin", "admin", 1000).unwrap();
        assert_eq!(user.id_role, 1);
        assert_eq!(a.session_of_jwt(&jwt, 1000).as_deref(), Some(sid.as_str()));
        assert!(a.session_of_jwt(&jwt, 1000 + 8 * 86_400).is_none());
        let forged = format!("{}x", jwt);
        assert!(a.session_of_jwt(&forged, 1000).is_none());
        assert!(a.use_session(&sid, Some(2)).is_some());
        assert!(a.use_session(&sid, Some(2)).is_some());
        assert!(a.use_session(&sid, Some(2)).is_none());
        assert!(a.use_session(&sid, None).is_none(), "an expired session stays expired");
    }
}
