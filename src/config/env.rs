//! [`WechatConfigBuilder::from_env`]: the `WECHAT_*` environment variables.

use super::{ConfigError, WechatConfigBuilder, checks::number};
use wechat_auth_client::Secret;

fn env(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A yes/no variable: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any case); unset is no.
fn flag(var: &'static str) -> Result<bool, ConfigError> {
    match env(var) {
        None => Ok(false),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::InvalidFlag { var, value: v }),
        },
    }
}

fn pair(id: Option<String>, secret: Option<String>) -> Option<(String, Secret)> {
    match (id, secret) {
        (None, None) => None,
        (id, secret) => Some((
            id.unwrap_or_default(),
            Secret::new(secret.unwrap_or_default()),
        )),
    }
}

impl WechatConfigBuilder {
    /// A builder pre-filled from the `WECHAT_*` environment variables, to adjust in code
    /// before [`build`](Self::build).
    ///
    /// ```no_run
    /// let cfg = wechat_auth::WechatConfigBuilder::from_env()?
    ///     .with_public_path("/health")
    ///     .build()?;
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut b = Self {
            public_url: env("WECHAT_PUBLIC_URL"),
            ..Self::default()
        };
        if let Some(keys) = env("WECHAT_SESSION_SECRET") {
            b.session_keys = keys
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(Secret::new)
                .collect();
        }
        b.website = pair(
            env("WECHAT_WEBSITE_APP_ID"),
            env("WECHAT_WEBSITE_APP_SECRET"),
        );
        b.oa = pair(env("WECHAT_OA_APP_ID"), env("WECHAT_OA_APP_SECRET"));
        b.oa_scope = env("WECHAT_OA_SCOPE");
        b.oa_token = env("WECHAT_OA_TOKEN").map(Secret::new);
        b.oa_aes_key = env("WECHAT_OA_ENCODING_AES_KEY").map(Secret::new);
        b.oa_insecure_plaintext_push = flag("WECHAT_OA_INSECURE_PLAINTEXT_PUSH")?;
        b.mobile = pair(env("WECHAT_MOBILE_APP_ID"), env("WECHAT_MOBILE_APP_SECRET"));
        b.mini = pair(env("WECHAT_MINI_APP_ID"), env("WECHAT_MINI_APP_SECRET"));
        b.api_base = env("WECHAT_API_BASE");
        b.open_base = env("WECHAT_OPEN_BASE");
        b.mp_base = env("WECHAT_MP_BASE");
        b.redis_url = env("WECHAT_REDIS_URL").map(Secret::new);
        if let Some(v) = env("WECHAT_REDIS_START") {
            b.redis_start = match v.to_ascii_lowercase().as_str() {
                "check" | "fail" => super::RedisStart::Check,
                "retry" => super::RedisStart::Retry,
                _ => {
                    return Err(ConfigError::InvalidSetting {
                        setting: "WECHAT_REDIS_START",
                        value: v,
                        expected: "use check (exit when the store does not answer at start) or retry (start anyway, log errors until it answers)",
                    });
                }
            };
        }
        b.client_ip_header = env("WECHAT_CLIENT_IP_HEADER");
        b.client_ip_trusted_hops = number(
            "WECHAT_CLIENT_IP_TRUSTED_HOPS",
            env("WECHAT_CLIENT_IP_TRUSTED_HOPS"),
            "use the number of your proxies that append to the client IP header, 1 to 16",
        )?
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        super::push::from_env(&mut b, env)?;
        super::message::from_env(&mut b, env)?;
        super::mini_link::from_env(&mut b, env)?;
        super::wecom::from_env(&mut b, env)?;
        super::douyin::from_env(&mut b, env);
        b.redis_ca_file = env("WECHAT_REDIS_CA_FILE").map(Into::into);
        b.relay_hub = env("WECHAT_RELAY_HUB");
        b.relay_targets = env("WECHAT_RELAY_TARGETS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_digits_and_a_bad_one_names_its_variable() {
        let n = |v: &str| {
            number(
                "WECHAT_CLIENT_IP_TRUSTED_HOPS",
                Some(v.to_owned()),
                "1 to 16",
            )
        };
        assert_eq!(n("2"), Ok(Some(2)));
        assert_eq!(number("X", None, ""), Ok(None));
        for bad in ["two", "-1", "1.5", " 2"] {
            let e = n(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("WECHAT_CLIENT_IP_TRUSTED_HOPS is {bad:?}; 1 to 16")
            );
        }
    }
}
