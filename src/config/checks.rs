//! Checks shared by the settings' files (a leaf: it names none of them), so each value is
//! checked once, into the type the layer keeps.

use url::Url;

use super::ConfigError;

/// A whole-number variable: unset is `None`; anything but digits is refused, naming it.
pub(super) fn number(
    var: &'static str,
    value: Option<String>,
    expected: &'static str,
) -> Result<Option<u64>, ConfigError> {
    value
        .map(|v| {
            v.parse::<u64>().map_err(|_| ConfigError::InvalidSetting {
                setting: var,
                value: v,
                expected,
            })
        })
        .transpose()
}

/// `raw` as an error message may show it: a password in it replaced by `***`.
pub(super) fn shown(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            // Cannot fail: a URL with a password has a host.
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

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
    pub(super) fn parse(raw: &str) -> Result<Self, &'static str> {
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
