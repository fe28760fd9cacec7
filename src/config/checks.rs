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
