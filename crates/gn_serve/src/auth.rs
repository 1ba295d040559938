//! Credentials as GeoNature accepts them, and the API token format.
//!
//! A request may carry an export token (`?token=`, `api-key` header), a bearer token
//! (`Authorization: Bearer`) or the login cookie (`token`, pypnusershub's remember-me cookie,
//! which our login sets). GeoNature checks an export token first and refuses a wrong one even
//! for a logged-in caller (§4.8), so [`Credentials::primary`] keeps that order.
//!
//! Tokens: 32 random bytes shown once as URL-safe base64 (43 characters, no padding); only the
//! SHA-256 hex digest is stored, and digests are compared in constant time.

use crate::http::Request;
use base64::Engine;
use gn_protocol::auth::REMEMBER_COOKIE;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Where a credential came from (for the access log and for the precedence rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// `?token=` (the first value).
    QueryToken,
    /// `api-key: <token>`.
    ApiKeyHeader,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The `token` cookie set by `POST /api/auth/login`.
    Cookie,
}

impl CredentialSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialSource::QueryToken => "query token",
            CredentialSource::ApiKeyHeader => "api-key header",
            CredentialSource::Bearer => "bearer",
            CredentialSource::Cookie => "cookie",
        }
    }
}

/// One presented secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub source: CredentialSource,
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, ***)", self.source.as_str())
    }
}

impl Credential {
    /// The stored form to look the secret up with.
    pub fn hash(&self) -> String {
        hash_token(&self.secret)
    }
}

/// Every credential a request carries, in precedence order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub all: Vec<Credential>,
}

impl Credentials {
    pub fn from_request(req: &Request) -> Credentials {
        let mut all = Vec::new();
        let mut push = |source, v: Option<&str>| {
            if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
                all.push(Credential {
                    source,
                    secret: v.to_string(),
                });
            }
        };
        push(CredentialSource::QueryToken, req.query_value("token"));
        push(CredentialSource::ApiKeyHeader, req.header("api-key"));
        let bearer = req.header("authorization").and_then(|a| {
            let (scheme, rest) = a.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest)
        });
        push(CredentialSource::Bearer, bearer);
        push(CredentialSource::Cookie, req.cookie(REMEMBER_COOKIE));
        Credentials { all }
    }

    /// The credential that decides: the first one in precedence order (query token, api-key,
    /// bearer, cookie). `None`: an anonymous caller.
    pub fn primary(&self) -> Option<&Credential> {
        self.all.first()
    }

    /// An export token (`?token=` or `api-key`), which GeoNature checks before any login.
    pub fn export_token(&self) -> Option<&Credential> {
        self.all
            .iter()
            .find(|c| matches!(c.source, CredentialSource::QueryToken | CredentialSource::ApiKeyHeader))
    }

    /// A login credential (bearer or cookie).
    pub fn login_token(&self) -> Option<&Credential> {
        self.all
            .iter()
            .find(|c| matches!(c.source, CredentialSource::Bearer | CredentialSource::Cookie))
    }
}

/// Length of a shown token: 32 bytes in unpadded base64.
pub const TOKEN_LEN: usize = 43;

/// A new token: `(shown, hash)`. Show `shown` once; store only `hash`.
pub fn new_token() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    let shown = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&shown);
    Ok((shown, hash))
}

/// The stored form of a token: SHA-256 of its shown text, lower-case hex.
pub fn hash_token(shown: &str) -> String {
    let digest = Sha256::digest(shown.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `shown` has the form of one of our tokens (callers may skip the lookup otherwise).
pub fn is_well_formed(shown: &str) -> bool {
    shown.len() == TOKEN_LEN
        && shown
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Constant-time equality (the time depends on the lengths only).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether `shown` is the token whose stored hash is `stored_hash`, in constant time.
pub fn token_matches(shown: &str, stored_hash: &str) -> bool {
    constant_time_eq(hash_token(shown).as_bytes(), stored_hash.as_bytes())
}

/// A short, non-secret label of a token for logs: the first 8 hex digits of its hash.
pub fn token_label(shown: &str) -> String {
    hash_token(shown)[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, Limits};

    fn req(raw: &str) -> Request {
        parse_request(raw.as_bytes(), &Limits::default()).unwrap().unwrap().0
    }

    #[test]
    fn extracts_credentials_in_geonature_order() {
        let r = req("GET /x?token=q1&token=q2 HTTP/1.1\r\nHost: h\r\napi-key: k\r\nAuthorization: Bearer  b \r\nCookie: session=s; token=c\r\n\r\n");
        let c = Credentials::from_request(&r);
        let got: Vec<(CredentialSource, &str)> = c.all.iter().map(|c| (c.source, c.secret.as_str())).collect();
        assert_eq!(
            got,
            [
                (CredentialSource::QueryToken, "q1"),
                (CredentialSource::ApiKeyHeader, "k"),
                (CredentialSource::Bearer, "b"),
                (CredentialSource::Cookie, "c"),
            ]
        );
        assert_eq!(c.primary().unwrap().source, CredentialSource::QueryToken);
        assert_eq!(c.export_token().unwrap().secret, "q1");
        assert_eq!(c.login_token().unwrap().source, CredentialSource::Bearer);
        assert!(!format!("{:?}", c).contains("q1"), "secrets are not printed");

        let r = req("GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: bearer tok\r\n\r\n");
        assert_eq!(Credentials::from_request(&r).primary().unwrap().secret, "tok");
        let r = req("GET /x?token= HTTP/1.1\r\nHost: h\r\nAuthorization: Basic abc\r\n\r\n");
        assert_eq!(Credentials::from_request(&r).primary(), None);
        let r = req("GET /x HTTP/1.1\r\nHost: h\r\nCookie: token=c\r\n\r\n");
        let c = Credentials::from_request(&r);
        assert_eq!(
            (c.export_token(), c.login_token().map(|c| c.source)),
            (None, Some(CredentialSource::Cookie))
        );
    }

    #[test]
    fn tokens() {
        let (shown, hash) = new_token().unwrap();
        assert_eq!(shown.len(), TOKEN_LEN);
        assert!(is_well_formed(&shown));
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, hash_token(&shown));
        assert!(token_matches(&shown, &hash));
        assert!(!token_matches("other", &hash));
        assert!(!token_matches(&shown, &hash[..63]));
        assert_ne!(new_token().unwrap().0, shown);
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&format!("{}=", &shown[..42])));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(token_label("abc"), "ba7816bf");
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
    }
}
