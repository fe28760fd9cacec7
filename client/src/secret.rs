//! [`Secret`]: a string that never shows itself in `Debug`, `Display` or logs.

use std::fmt;

/// A secret string: an AppSecret, a WeChat token, a `session_key`, a signing key.
///
/// Its `Debug` output is always `Secret(***)`, so a secret inside a config or a response
/// struct cannot leak through `{:?}`, `tracing` fields or panic messages. Read the value with
/// [`Secret::expose`] at the one place that must send it.
///
/// ```
/// use wechat_auth_client::Secret;
///
/// let s = Secret::new("app-secret-value");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "app-secret-value");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    ///
    /// ```
    /// let s = wechat_auth_client::Secret::new(String::from("x"));
    /// assert!(!s.is_empty());
    /// ```
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call it only where the value must leave the process (a WeChat call).
    ///
    /// ```
    /// assert_eq!(wechat_auth_client::Secret::new("k").expose(), "k");
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    ///
    /// ```
    /// assert!(wechat_auth_client::Secret::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<&String> for Secret {
    fn from(value: &String) -> Self {
        Self(value.clone())
    }
}
