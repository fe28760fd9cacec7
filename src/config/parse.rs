//! Reading setting values from their text (shared by the environment readers).

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
