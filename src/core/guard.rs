//! The guard: which paths need a session, and the answer when a request that needs one has
//! none. Finding the session is the session service's ([`super::sessions::Sessions`]).

use std::sync::Arc;

use axum_core::body::Body;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};

use crate::core::{
    respond::{self, QUERY_VALUE},
    sessions::{Found, Sessions},
};

/// A path the guard lets through without a session, as `build` accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicPath {
    /// Exactly this path (`/health`).
    Exact(String),
    /// Every path under this folder (`/assets/` for `/assets/*`).
    Folder(String),
}

impl PublicPath {
    /// Checks `raw`: an absolute path (`/` first, not `//`), no `.` or `..` segment (plain
    /// or percent-encoded), no `?`, `#`, `\\` or control characters, and a `*` only as the
    /// last segment of a folder (`/assets/*`).
    pub(crate) fn parse(raw: &str) -> Result<Self, &'static str> {
        if !raw.starts_with('/') {
            return Err("must start with /");
        }
        if raw.starts_with("//") {
            return Err("must not start with // (browsers read that as another host)");
        }
        if raw.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        if raw.contains(['?', '#']) {
            return Err("must not have a query or fragment (? or #)");
        }
        if raw.contains('\\') {
            return Err("must not contain \\");
        }
        let (path, folder) = match raw.strip_suffix('*') {
            Some(folder) if folder.ends_with('/') => (folder, true),
            Some(_) => return Err("may have * only as a folder's last segment, as in /assets/*"),
            None => (raw, false),
        };
        if path.contains('*') {
            return Err("may have * only as a folder's last segment, as in /assets/*");
        }
        let dot_segment = path.split('/').any(|seg| {
            let seg = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
            seg == "." || seg == ".."
        });
        if dot_segment {
            return Err("must not have . or .. segments");
        }
        Ok(if folder {
            Self::Folder(path.to_owned())
        } else {
            Self::Exact(path.to_owned())
        })
    }
}

/// Public paths: exact ones and folder prefixes.
#[derive(Debug, Default)]
struct PublicPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl PublicPaths {
    fn new(paths: &[PublicPath]) -> Self {
        let mut p = Self::default();
        for path in paths {
            match path {
                PublicPath::Folder(prefix) => p.prefixes.push(prefix.clone()),
                PublicPath::Exact(exact) => p.exact.push(exact.clone()),
            }
        }
        p
    }

    fn contains(&self, path: &str) -> bool {
        self.exact.iter().any(|e| e == path) || self.prefixes.iter().any(|p| path.starts_with(p))
    }
}

/// The guard service: decides, per request, whether it may pass.
#[derive(Debug)]
pub(crate) struct Guard {
    sessions: Arc<Sessions>,
    public: PublicPaths,
    login_path: String,
    /// The body of every `401`.
    unauthenticated: bytes::Bytes,
}

impl Guard {
    /// The guard of a layer whose endpoints are under `prefix`, letting `public` through.
    pub(crate) fn new(sessions: Arc<Sessions>, public: &[PublicPath], prefix: &str) -> Self {
        let login_path = format!("{prefix}/login");
        Self {
            sessions,
            public: PublicPaths::new(public),
            unauthenticated: serde_json::to_vec(
                &serde_json::json!({ "error": "unauthenticated", "login_url": login_path }),
            )
            .unwrap_or_default()
            .into(),
            login_path,
        }
    }

    /// Whether `path` bypasses the guard.
    pub(crate) fn is_public(&self, path: &str) -> bool {
        self.public.contains(path)
    }

    /// Where a browser logs in.
    pub(crate) fn login_path(&self) -> &str {
        &self.login_path
    }

    /// The session `headers` carry (see [`Sessions::find_session`]).
    pub(crate) fn find_session(&self, headers: &HeaderMap) -> Found {
        self.sessions.find_session(headers)
    }

    /// What the guard decided, for the metrics (see [`Sessions::guard_decision`]).
    pub(crate) fn decision(&self, found: &Found, headers: &HeaderMap) -> crate::metrics::Guard {
        self.sessions.guard_decision(found, headers)
    }

    /// The answer to a request that needs a session and has none: a redirect into the login
    /// for a browser navigation, else `401` JSON.
    pub(crate) fn unauthenticated<B>(
        &self,
        req: &Request<B>,
        invalid_bearer: bool,
    ) -> Response<Body> {
        let headers = req.headers();
        let navigation = matches!(*req.method(), Method::GET | Method::HEAD)
            && !headers.contains_key("x-requested-with")
            && headers
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        if navigation {
            let location = format!(
                "{}?return_to={}",
                self.login_path,
                percent_encoding::utf8_percent_encode(path_and_query, QUERY_VALUE)
            );
            return respond::redirect(StatusCode::FOUND, &location);
        }
        self.unauthenticated_json(invalid_bearer)
    }

    /// The body of every `401`, rendered once: the guard's and the extractor's are the same.
    pub(crate) fn unauthenticated_body(&self) -> bytes::Bytes {
        self.unauthenticated.clone()
    }

    /// `401` JSON with `WWW-Authenticate: Bearer` and where to log in.
    pub(crate) fn unauthenticated_json(&self, invalid_bearer: bool) -> Response<Body> {
        // Rendered once: this answer is the hot path of unauthenticated API traffic.
        crate::core::render::unauthenticated(self.unauthenticated.clone(), invalid_bearer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_match_exact_and_folders() {
        let p = PublicPaths::new(&[
            PublicPath::Exact("/".into()),
            PublicPath::Folder("/assets/".into()),
        ]);
        assert!(p.contains("/"));
        assert!(p.contains("/assets/app.css"));
        assert!(!p.contains("/profile"));
        assert!(!p.contains("/assets"));
    }
}
