//! [`WechatConfigBuilder::build`]: what a configuration must satisfy, checked once.

use std::{sync::Arc, time::Duration};

use url::Url;

use super::{
    AppCredentials, ConfigError, HOST_PREFIX, OfficialAccount, SECURE_PREFIX, WechatConfig,
    WechatConfigBuilder, checks::shown, cookie_name_prefix,
};
use crate::core::guard::PublicPath;
use wechat_auth_client::{BaseUrl, OaScope, Secret, WechatClient};

use crate::{core::store::Store, push::PushCrypto};

/// The Redis store for `url` (trusting the CA in `ca_file`), connecting on first use.
#[cfg(feature = "redis")]
fn redis_store(
    url: &Secret,
    ca_file: Option<&std::path::Path>,
) -> Result<(Arc<dyn Store>, super::StartCheck), ConfigError> {
    let store = crate::core::store::RedisStore::connect_lazy(url.expose());
    let store = match ca_file {
        Some(path) => store.and_then(|s| s.with_ca_file(path)),
        None => store,
    };
    store
        .map(|s| (Arc::new(s.clone()) as Arc<dyn Store>, Some(s)))
        .map_err(|e| ConfigError::InvalidRedisUrl(e.to_string()))
}

#[cfg(not(feature = "redis"))]
fn redis_store(
    _: &Secret,
    _: Option<&std::path::Path>,
) -> Result<(Arc<dyn Store>, super::StartCheck), ConfigError> {
    Err(ConfigError::RedisFeatureMissing)
}

impl WechatConfigBuilder {
    /// The providers besides WeChat that this builder configures (`"WeCom"`, `"Douyin"`): a
    /// WeChat-only `on_login` hook would never see their logins. One line per provider.
    fn non_wechat_providers(&self) -> Vec<&'static str> {
        #[allow(unused_mut)]
        let mut others = Vec::new();
        others
    }

    /// Checks the settings and builds the configuration.
    ///
    /// ```
    /// let err = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("too short")
    ///     .with_website_app("wx1", "s")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("at least 32 bytes"));
    /// ```
    pub fn build(self) -> Result<WechatConfig, ConfigError> {
        let others = self.non_wechat_providers();
        if self.on_login_wechat_only && !others.is_empty() {
            return Err(ConfigError::WechatOnlyLoginHook {
                providers: others.join(" and "),
            });
        }
        let raw_url = self.public_url.ok_or(ConfigError::MissingPublicUrl)?;
        let invalid = |why| ConfigError::InvalidPublicUrl {
            url: raw_url.clone(),
            why,
        };
        let public_url = Url::parse(&raw_url).map_err(|_| invalid("not an absolute URL"))?;
        if !matches!(public_url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        let Some(public_host) = public_url.host_str().map(str::to_owned) else {
            return Err(invalid("it has no host"));
        };
        if !public_url.username().is_empty() || public_url.password().is_some() {
            return Err(ConfigError::InvalidPublicUrl {
                url: shown(&raw_url),
                why: "it must not contain credentials (user:password@)",
            });
        }
        if !matches!(public_url.path(), "" | "/")
            || public_url.query().is_some()
            || public_url.fragment().is_some()
        {
            return Err(invalid(
                "it must be an origin, without a path, query or fragment",
            ));
        }
        let origin = public_url.origin().ascii_serialization();
        let secure_cookies = public_url.scheme() == "https";

        if self.session_keys.is_empty() {
            return Err(ConfigError::MissingSessionSecret);
        }
        for (index, key) in self.session_keys.iter().enumerate() {
            if key.expose().len() < 32 {
                return Err(ConfigError::ShortSessionSecret {
                    index,
                    len: key.expose().len(),
                });
            }
        }

        let app = |pair: Option<(String, Secret)>,
                   channel: &'static str,
                   id_var: &'static str,
                   secret_var: &'static str|
         -> Result<Option<AppCredentials>, ConfigError> {
            match pair {
                None => Ok(None),
                Some((id, _)) if id.is_empty() => Err(ConfigError::IncompleteApp {
                    channel,
                    has: "a secret",
                    missing: "AppID",
                    var: id_var,
                }),
                Some((_, secret)) if secret.is_empty() => Err(ConfigError::IncompleteApp {
                    channel,
                    has: "an AppID",
                    missing: "AppSecret",
                    var: secret_var,
                }),
                Some((id, secret)) => Ok(Some(AppCredentials::new(id, secret))),
            }
        };
        let website = app(
            self.website,
            "website",
            "WECHAT_WEBSITE_APP_ID",
            "WECHAT_WEBSITE_APP_SECRET",
        )?;
        let oa_app = app(
            self.oa,
            "Official Account",
            "WECHAT_OA_APP_ID",
            "WECHAT_OA_APP_SECRET",
        )?;
        let mobile = app(
            self.mobile,
            "mobile",
            "WECHAT_MOBILE_APP_ID",
            "WECHAT_MOBILE_APP_SECRET",
        )?;
        let mini_program = app(
            self.mini,
            "mini program",
            "WECHAT_MINI_APP_ID",
            "WECHAT_MINI_APP_SECRET",
        )?;
        if website.is_none() && oa_app.is_none() && mobile.is_none() && mini_program.is_none() {
            return Err(ConfigError::NoChannel);
        }

        let scope = match self.oa_scope.as_deref() {
            None | Some("snsapi_userinfo") => OaScope::UserInfo,
            Some("snsapi_base") => OaScope::Base,
            Some(super::OA_SCOPE_BASE_THEN_USERINFO) => OaScope::BaseThenUserinfo,
            Some(other) => return Err(ConfigError::InvalidScope(other.to_owned())),
        };
        if let Some(key) = &self.oa_aes_key {
            let k = key.expose();
            if k.len() != 43 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::InvalidAesKey { len: k.len() });
            }
            if self.oa_token.is_none() {
                return Err(ConfigError::AesKeyWithoutToken);
            }
        }
        if let Some(token) = &self.oa_token {
            let t = token.expose();
            let alphanumeric = t.bytes().all(|b| b.is_ascii_alphanumeric());
            if !(3..=32).contains(&t.len()) || !alphanumeric {
                return Err(ConfigError::InvalidPushToken {
                    len: t.chars().count(),
                    alphanumeric,
                });
            }
            if self.oa_aes_key.is_none() && !self.oa_insecure_plaintext_push {
                return Err(ConfigError::PlaintextPushNotAllowed);
            }
        }
        let official_account = oa_app.map(|app| OfficialAccount {
            app,
            scope,
            push_token: self.oa_token,
            encoding_aes_key: self.oa_aes_key,
            insecure_plaintext_push: self.oa_insecure_plaintext_push,
        });
        // The push URL's crypto, made once from the settings checked above: every layer and
        // clone made from this config shares it.
        let push =
            match &official_account {
                Some(oa) => match oa.push_token() {
                    Some(token) => {
                        let key = oa.encoding_aes_key().map(Secret::expose);
                        let crypto = PushCrypto::new(token.expose(), key, oa.app().appid())
                            .map_err(|_| ConfigError::InvalidAesKey {
                                len: key.map_or(0, str::len),
                            })?;
                        Some(Arc::new(crypto))
                    }
                    None => None,
                },
                None => None,
            };

        let prefix = self.prefix;
        if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
            return Err(ConfigError::InvalidPrefix(prefix));
        }

        let relay_hub = match &self.relay_hub {
            None => None,
            Some(hub) => match Url::parse(hub) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.query().is_none()
                        && u.fragment().is_none() =>
                {
                    Some(u)
                }
                _ => {
                    return Err(ConfigError::InvalidRelay(format!(
                        "WECHAT_RELAY_HUB (with_relay_hub) {:?} must be the hub's relay endpoint, an absolute http(s) URL without user:password@, query or fragment, such as https://login.example.com/auth/wechat/relay",
                        shown(hub)
                    )));
                }
            },
        };
        // Each target as the one callback URL the hub passes codes to: the site's origin
        // plus its prefix (this hub's own when the entry is an origin alone) plus `/callback`.
        let mut relay_targets = Vec::with_capacity(self.relay_targets.len());
        for o in &self.relay_targets {
            let site_prefix = |u: &Url| match u.path() {
                "" | "/" => Some(prefix.clone()),
                // As written: no segment the parser resolved away (`..`, `.`, `\\`).
                p if valid_relay_prefix(p)
                    && o.ends_with(p)
                    && !o.contains("..")
                    && !o.contains('\\') =>
                {
                    Some(p.to_owned())
                }
                _ => None,
            };
            match Url::parse(o) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.query().is_none()
                        && u.fragment().is_none()
                        && site_prefix(&u).is_some() =>
                {
                    let site_prefix = site_prefix(&u).unwrap_or_default();
                    relay_targets.push(format!(
                        "{}{site_prefix}/callback",
                        u.origin().ascii_serialization()
                    ));
                }
                _ => {
                    return Err(ConfigError::InvalidRelay(format!(
                        "WECHAT_RELAY_TARGETS (with_relay_target) entry {:?} is not an http(s) origin like https://shop.example.com, or an origin and the site's prefix like https://shop.example.com/auth/wechat",
                        shown(o)
                    )));
                }
            }
        }

        let mut allowed_origins = Vec::with_capacity(self.allowed_origins.len());
        for o in self.allowed_origins {
            let url = Url::parse(&o).map_err(|_| ConfigError::InvalidOrigin(shown(&o)))?;
            if !matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || !url.username().is_empty()
                || url.password().is_some()
                || !matches!(url.path(), "" | "/")
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(ConfigError::InvalidOrigin(shown(&o)));
            }
            allowed_origins.push(url.origin().ascii_serialization());
        }

        // The base URLs, checked once into the values the client uses.
        let base = |var: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|raw| {
                    BaseUrl::parse(raw).map_err(|e| ConfigError::InvalidBaseUrl {
                        var,
                        value: shown(raw),
                        why: e.to_string(),
                    })
                })
                .transpose()
        };
        let api_base = base("WECHAT_API_BASE (with_wechat_bases)", &self.api_base)?;
        let open_base = base("WECHAT_OPEN_BASE (with_wechat_bases)", &self.open_base)?;
        let mp_base = base("WECHAT_MP_BASE (with_wechat_bases)", &self.mp_base)?;

        let mut public_paths = Vec::with_capacity(self.public_paths.len());
        for path in self.public_paths {
            public_paths.push(PublicPath::parse(&path).map_err(|why| {
                ConfigError::InvalidPublicPath {
                    path: path.clone(),
                    why,
                }
            })?);
        }

        let check = |setting, d: Duration, min: u64, max: u64| {
            if d.as_secs() < min || d.as_secs() > max {
                Err(ConfigError::InvalidDuration { setting, min, max })
            } else {
                Ok(())
            }
        };
        check("session_ttl", self.session_ttl, 60, 400 * 24 * 3600)?;
        check(
            "session_max_lifetime",
            self.session_max_lifetime,
            60,
            400 * 24 * 3600,
        )?;
        let client_ip_header = match (&self.client_ip_header, self.client_ip_trusted_hops) {
            (None, None) => None,
            (None, Some(hops)) => {
                return Err(ConfigError::InvalidSetting {
                    setting: "WECHAT_CLIENT_IP_TRUSTED_HOPS",
                    value: hops.to_string(),
                    expected: "it needs WECHAT_CLIENT_IP_HEADER (with_client_ip_header): the header the trusted proxies append to",
                });
            }
            (Some(name), hops) => {
                let name = http::HeaderName::try_from(name.as_str()).map_err(|_| {
                    ConfigError::InvalidHeaderName {
                        setting: "client_ip_header",
                        value: name.clone(),
                    }
                })?;
                let trusted_hops = hops.unwrap_or(1);
                if !(1..=16).contains(&trusted_hops) {
                    return Err(ConfigError::InvalidSetting {
                        setting: "WECHAT_CLIENT_IP_TRUSTED_HOPS",
                        value: trusted_hops.to_string(),
                        expected: "use the number of your proxies that append to the client IP header, 1 to 16",
                    });
                }
                Some(crate::core::limit::ClientIpHeader { name, trusted_hops })
            }
        };
        check("state_ttl", self.state_ttl, 30, 3600)?;
        check("userinfo_ttl", self.userinfo_ttl, 1, 30 * 24 * 3600)?;
        check("scan_ttl", self.scan_ttl, 1, 2_592_000)?;
        check("http_timeout", self.http_timeout, 1, 120)?;
        check("body_timeout", self.body_timeout, 1, 300)?;
        // Made once, here: every layer and clone made from this config shares it.
        let client = WechatClient::builder()
            .with_timeout(self.http_timeout)
            .with_base_urls(api_base, open_base, mp_base)
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;

        let cookie_prefix = cookie_name_prefix(secure_cookies, self.cookie_domain.as_deref());
        let session_cookie = if self.cookie_name.starts_with(HOST_PREFIX)
            || self.cookie_name.starts_with(SECURE_PREFIX)
        {
            self.cookie_name.clone()
        } else {
            format!("{cookie_prefix}{}", self.cookie_name)
        };

        // Created here, once: every layer and clone made from this config shares it (a
        // logout through one layer is seen by the others; one code single flight for all).
        let (store, redis): (Arc<dyn Store>, _) = match (self.store, &self.redis_url) {
            (Some(store), _) => (store, None),
            (None, None) => (Arc::new(crate::core::store::MemoryStore::new()), None),
            (None, Some(url)) => redis_store(url, self.redis_ca_file.as_deref())?,
        };
        let redis_start = self.redis_start;

        if let Some(page) = &self.mini_code_page
            && (page.is_empty() || page.starts_with('/') || page.contains('?') || page.len() > 256)
        {
            return Err(ConfigError::InvalidMiniProgramPage(format!(
                "the mini program code page {page:?} must be a page path such as pages/login/confirm: no leading /, no query"
            )));
        }
        if let Some(env) = &self.mini_code_env
            && !matches!(env.as_str(), "release" | "trial" | "develop")
        {
            return Err(ConfigError::InvalidMiniProgramPage(format!(
                "the mini program env_version {env:?} must be release, trial or develop"
            )));
        }
        let (mini_code_page, mini_code_env) = (self.mini_code_page, self.mini_code_env);
        let embed_css = match self.embed_css {
            Some(href)
                if !(href.starts_with("https://") || href.starts_with("data:text/css;base64,"))
                    || href.len() > 4096 =>
            {
                return Err(ConfigError::InvalidEmbedCss(href));
            }
            other => other,
        };
        let push_settings = self.push_settings.checked(official_account.is_some())?;
        let message = self.message.checked()?;
        Ok(WechatConfig {
            public_url,
            origin,
            public_host,
            secure_cookies,
            session_keys: self.session_keys,
            website,
            official_account,
            mobile,
            mini_program,
            client,
            prefix,
            public_paths,
            allowed_origins,
            cookie_prefix,
            session_cookie,
            cookie_name: self.cookie_name,
            cookie_domain: self.cookie_domain,
            body_timeout: self.body_timeout,
            session_ttl: self.session_ttl,
            session_max_lifetime: self.session_max_lifetime,
            client_ip_header,
            redis_start,
            redis,
            state_ttl: self.state_ttl,
            userinfo_ttl: self.userinfo_ttl,
            scan_ttl: self.scan_ttl,
            lang: self.lang,
            global_token_source: self.global_token_source,
            http_timeout: self.http_timeout,
            on_login: self.on_login,
            token_provider: self.token_provider,
            mini_code_page,
            mini_code_env,
            mini_link: self.mini_link.unwrap_or_default(),
            store,
            relay_hub,
            relay_targets,
            push,
            push_settings,
            message,
            pages: self
                .pages
                .unwrap_or_else(|| Arc::new(crate::core::pages::DefaultPages)),
            language: self.language,
            embed_css,
        })
    }
}

/// Whether `path` can be a relay target's prefix: like `WECHAT_PREFIX` (`/a/b`, no trailing
/// slash), plain segments only (no `.`/`..`, `;`, `%`, `\\`), not already ending in
/// `/callback` (the hub adds that).
fn valid_relay_prefix(path: &str) -> bool {
    path.starts_with('/')
        && !path.ends_with('/')
        && !path.ends_with("/callback")
        && path[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn base() -> WechatConfigBuilder {
        WechatConfig::builder()
            .with_public_url("https://example.com")
            .with_session_secret(KEY)
            .with_website_app("wx1", "s1")
    }

    #[test]
    fn defaults() {
        let cfg = base().build().unwrap();
        assert!(cfg.secure_cookies);
        assert_eq!(cfg.cookie_name, "wechat_session");
        assert_eq!(cfg.prefix, "/auth/wechat");
        assert_eq!(
            cfg.redirect_uri(),
            "https://example.com/auth/wechat/callback"
        );
    }

    #[test]
    fn cookie_names_get_the_prefix_browsers_enforce() {
        assert_eq!(cookie_name_prefix(true, None), "__Host-");
        assert_eq!(cookie_name_prefix(true, Some("example.com")), "__Secure-");
        assert_eq!(cookie_name_prefix(false, None), "");
        assert_eq!(cookie_name_prefix(false, Some("example.com")), "");

        let cfg = base().build().unwrap();
        assert_eq!(cfg.session_cookie, "__Host-wechat_session");
        assert_eq!(
            cfg.cookie_prefix, "__Host-",
            "flow cookies take the same prefix"
        );
        assert_eq!(cfg.flow_cookie_path(), "/", "__Host- requires Path=/");

        let cfg = base().with_cookie_domain("example.com").build().unwrap();
        assert_eq!(cfg.session_cookie, "__Secure-wechat_session");
        assert_eq!(cfg.flow_cookie_path(), "/auth/wechat");

        let cfg = base()
            .with_public_url("http://127.0.0.1:3000")
            .build()
            .unwrap();
        assert_eq!(cfg.session_cookie, "wechat_session");
        assert_eq!(cfg.cookie_prefix, "");
        assert_eq!(cfg.flow_cookie_path(), "/auth/wechat");

        let cfg = base().with_cookie_name("__Host-sid").build().unwrap();
        assert_eq!(cfg.session_cookie, "__Host-sid", "never prefixed twice");
    }

    #[test]
    fn http_origin_means_no_secure_cookie() {
        let cfg = base()
            .with_public_url("http://127.0.0.1:3000")
            .build()
            .unwrap();
        assert!(!cfg.secure_cookies);
        assert_eq!(
            cfg.redirect_uri(),
            "http://127.0.0.1:3000/auth/wechat/callback"
        );
    }

    #[test]
    fn impossible_settings_are_refused_with_the_fix() {
        let e = |b: WechatConfigBuilder| b.build().unwrap_err();
        assert_eq!(
            e(WechatConfig::builder().with_session_secret(KEY)),
            ConfigError::MissingPublicUrl
        );
        assert!(matches!(
            e(base().with_public_url("example.com")),
            ConfigError::InvalidPublicUrl { .. }
        ));
        assert!(matches!(
            e(base().with_public_url("ftp://example.com")),
            ConfigError::InvalidPublicUrl { .. }
        ));
        assert!(matches!(
            e(base().with_public_url("https://example.com/app")),
            ConfigError::InvalidPublicUrl { .. }
        ));
        assert_eq!(
            e(base().with_session_keys(Vec::<String>::new())),
            ConfigError::MissingSessionSecret
        );
        assert_eq!(
            e(base().with_session_keys([KEY, "short"])),
            ConfigError::ShortSessionSecret { index: 1, len: 5 }
        );
        assert_eq!(
            e(WechatConfig::builder()
                .with_public_url("https://example.com")
                .with_session_secret(KEY)),
            ConfigError::NoChannel
        );
        let err = e(base().with_mobile_app("wx3", ""));
        assert!(
            err.to_string().contains("WECHAT_MOBILE_APP_SECRET"),
            "{err}"
        );
        assert!(matches!(
            e(base().with_oa_push("t", Some("short"))),
            ConfigError::InvalidAesKey { len: 5 }
        ));
        assert!(matches!(
            e(base().with_prefix("auth")),
            ConfigError::InvalidPrefix(_)
        ));
        assert!(matches!(
            e(base().with_allowed_origin("https://x.com/path")),
            ConfigError::InvalidOrigin(_)
        ));
        assert!(matches!(
            e(base().with_wechat_bases("nope", "http://a", "http://a")),
            ConfigError::InvalidBaseUrl { .. }
        ));
        assert!(matches!(
            e(base().with_session_ttl(Duration::from_secs(1))),
            ConfigError::InvalidDuration { .. }
        ));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let cfg = base()
            .with_official_account("wx2", "oa-secret-value")
            .with_oa_push(
                "pushTokenValue",
                Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
            )
            .build()
            .unwrap();
        let dbg = format!("{cfg:?}");
        for secret in [KEY, "oa-secret-value", "pushTokenValue", "abcdefghijklmnop"] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
    }

    #[test]
    fn push_tokens_follow_wechat_rules_and_plaintext_must_be_asked_for() {
        const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let oa = || base().with_official_account("wx2", "s");
        for bad in [
            "",
            "ab",
            &"a".repeat(33),
            "push-token",
            "tok en",
            "tökén",
            "tok_1",
        ] {
            let err = oa().with_oa_push(bad, Some(AES)).build().unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidPushToken { .. }),
                "{bad:?}: {err:?}"
            );
            assert!(err.to_string().contains("WECHAT_OA_TOKEN"), "{err}");
        }
        for good in ["abc", "mocktoken", &"Z9".repeat(16)] {
            assert!(
                oa().with_oa_push(good, Some(AES)).build().is_ok(),
                "{good:?}"
            );
        }
        // No key: refused unless plaintext is asked for, with the fix in the message.
        let err = oa().with_oa_push("mocktoken", None).build().unwrap_err();
        assert_eq!(err, ConfigError::PlaintextPushNotAllowed);
        let msg = err.to_string();
        assert!(
            msg.contains("WECHAT_OA_ENCODING_AES_KEY")
                && msg.contains("WECHAT_OA_INSECURE_PLAINTEXT_PUSH"),
            "{msg}"
        );
        let cfg = oa()
            .with_oa_push("mocktoken", None)
            .with_insecure_plaintext_push(true)
            .build()
            .unwrap();
        assert!(cfg.official_account().unwrap().insecure_plaintext_push());
        // A bad token is refused even with the opt-in; no push token needs nothing.
        assert!(matches!(
            oa().with_oa_push("", None)
                .with_insecure_plaintext_push(true)
                .build(),
            Err(ConfigError::InvalidPushToken { len: 0, .. })
        ));
        let cfg = oa().build().unwrap();
        assert!(!cfg.official_account().unwrap().insecure_plaintext_push());
    }

    #[test]
    fn build_makes_the_push_crypto_once() {
        const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let oa = || base().with_official_account("wx2", "s");
        assert!(base().build().unwrap().push_crypto().is_none());
        assert!(oa().build().unwrap().push_crypto().is_none());
        let cfg = oa().with_oa_push("mocktoken", Some(AES)).build().unwrap();
        let push = cfg.push_crypto().unwrap();
        assert!(push.has_aes());
        assert_eq!(push.appid(), "wx2");
        let clone = cfg.clone();
        assert!(
            Arc::ptr_eq(push, clone.push_crypto().unwrap()),
            "shared, not rebuilt"
        );
        let plain = oa()
            .with_oa_push("mocktoken", None)
            .with_insecure_plaintext_push(true)
            .build()
            .unwrap();
        assert!(!plain.push_crypto().unwrap().has_aes());
        // A push token without the Official Account it belongs to makes no push URL.
        let orphan = base().with_oa_push("mocktoken", Some(AES)).build().unwrap();
        assert!(orphan.push_crypto().is_none());
        let dbg = format!("{:?}", cfg.push_crypto());
        assert!(
            !dbg.contains("mocktoken") && !dbg.contains("abcdefghijklmnop"),
            "{dbg}"
        );
    }

    #[test]
    fn base_urls_are_refused_at_build_naming_the_setting() {
        let ok = "http://127.0.0.1:9";
        for (bad, why) in [
            ("http://127.0.0.1:9/?x=1", "must not have a query"),
            ("http://127.0.0.1:9/?", "must not have a query"),
            (
                "http://user:pw@127.0.0.1:9/",
                "must not contain credentials",
            ),
            ("http://:pw@127.0.0.1:9/", "must not contain credentials"),
            ("http://user@127.0.0.1:9/", "must not contain credentials"),
            ("http://127.0.0.1:9/#frag", "must not have a fragment"),
            ("http://127.0.0.1:9/#", "must not have a fragment"),
            ("ftp://127.0.0.1:9/", "must use http or https"),
            ("file:///etc/passwd", "must use http or https"),
            ("javascript:alert(1)", "must use http or https"),
            ("127.0.0.1:9", "is not an absolute URL"),
            ("api.weixin.qq.com", "is not an absolute URL"),
            ("nope", "is not an absolute URL"),
        ] {
            for (cfg, var) in [
                (base().with_wechat_bases(bad, ok, ok), "WECHAT_API_BASE"),
                (base().with_wechat_bases(ok, bad, ok), "WECHAT_OPEN_BASE"),
                (base().with_wechat_bases(ok, ok, bad), "WECHAT_MP_BASE"),
            ] {
                let err = cfg.build().unwrap_err();
                assert!(matches!(err, ConfigError::InvalidBaseUrl { .. }), "{bad}");
                let msg = err.to_string();
                assert!(
                    msg.starts_with(&format!("{var} (with_wechat_bases) is ")),
                    "{msg}"
                );
                assert!(msg.contains(why), "{bad}: {msg}");
                assert!(!msg.contains(":pw@"), "the password is hidden: {msg}");
            }
        }
    }

    #[test]
    fn the_base_urls_build_accepted_are_the_ones_used() {
        let cfg = base()
            .with_wechat_bases(
                " http://127.0.0.1:9/api ",
                "http://127.0.0.1:8/",
                "https://mp.example.com",
            )
            .build()
            .unwrap();
        assert_eq!(cfg.client().api_base().as_str(), "http://127.0.0.1:9/api/");
        assert_eq!(cfg.client().open_base().as_str(), "http://127.0.0.1:8/");
        assert_eq!(cfg.client().mp_base().as_str(), "https://mp.example.com/");
        assert_eq!(cfg.open_platform_origin(), "http://127.0.0.1:8");
        let clone = cfg.clone();
        assert!(
            std::ptr::eq(cfg.client().api_base(), clone.client().api_base()),
            "one client, made by build"
        );
        // Unset: the real hosts.
        let cfg = base().build().unwrap();
        assert_eq!(
            cfg.client().api_base().as_str(),
            "https://api.weixin.qq.com/"
        );
    }

    #[test]
    fn the_public_url_is_an_origin_without_credentials_or_fragment() {
        for (bad, why) in [
            ("https://user:pw@example.com", "credentials"),
            ("https://user@example.com", "credentials"),
            ("https://example.com/#top", "fragment"),
            ("https://example.com/?a=1", "query"),
        ] {
            let err = base().with_public_url(bad).build().unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with("WECHAT_PUBLIC_URL (with_public_url) "),
                "{msg}"
            );
            assert!(msg.contains(why), "{bad}: {msg}");
            assert!(!msg.contains(":pw@"), "the password is hidden: {msg}");
        }
    }

    #[test]
    fn public_paths_must_be_absolute_paths() {
        for bad in [
            "health",
            "",
            "*",
            "//evil.example/x",
            "/a/../admin",
            "/a/%2e%2E/admin",
            "/./x",
            "/..",
            "/x?y=1",
            "/x#y",
            "/x\\y",
            "/x\ny",
            "/x\u{7f}",
            "/assets*",
            "/a*/b",
        ] {
            let err = base().with_public_path(bad).build().unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidPublicPath { .. }),
                "{bad:?}: {err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("public path (with_public_path) "),
                "{err}"
            );
        }
        let cfg = base()
            .with_public_path("/")
            .with_public_path("/assets/*")
            .with_public_path("/caf%C3%A9")
            .with_public_path("/a.b/..c")
            .build()
            .unwrap();
        assert_eq!(
            cfg.public_paths,
            [
                PublicPath::Exact("/".into()),
                PublicPath::Folder("/assets/".into()),
                PublicPath::Exact("/caf%C3%A9".into()),
                PublicPath::Exact("/a.b/..c".into()),
            ]
        );
    }

    #[test]
    fn relay_and_redirect_origins_refuse_credentials_and_fragments() {
        for bad in [
            "https://:pw@login.example.com/auth/wechat/relay",
            "https://u:pw@login.example.com/auth/wechat/relay",
            "https://login.example.com/auth/wechat/relay#x",
            "https://login.example.com/auth/wechat/relay?x=1",
        ] {
            let msg = base().with_relay_hub(bad).build().unwrap_err().to_string();
            assert!(msg.contains("WECHAT_RELAY_HUB (with_relay_hub)"), "{msg}");
            assert!(!msg.contains(":pw@"), "the password is hidden: {msg}");
        }
        for bad in [
            "https://u:pw@shop.example.com",
            "https://shop.example.com/#x",
            "https://shop.example.com/?x=1",
        ] {
            let msg = base()
                .with_allowed_origin(bad)
                .build()
                .unwrap_err()
                .to_string();
            assert!(msg.contains("(with_allowed_origin)"), "{msg}");
            assert!(!msg.contains(":pw@"), "the password is hidden: {msg}");
        }
    }

    #[test]
    fn scan_start_limits_are_kept_as_accepted() {
        let cfg = base()
            .with_scan_start_limits(crate::config::push_settings::ScanStartLimits::new(3, 2, 1))
            .with_scan_daily_budget(7)
            .build()
            .unwrap();
        let q = cfg.push_settings.start_quotas;
        assert_eq!(
            (q.per_ip.get(), q.per_browser.get(), q.total.get()),
            (3, 2, 1)
        );
        assert_eq!(cfg.push_settings.daily_budget(), 7);
        for zero in [(0, 1, 1), (1, 0, 1), (1, 1, 0)] {
            assert_eq!(
                base()
                    .with_scan_start_limits(crate::config::push_settings::ScanStartLimits::new(
                        zero.0, zero.1, zero.2
                    ))
                    .build()
                    .unwrap_err(),
                ConfigError::InvalidScanLimits
            );
        }
    }

    #[test]
    fn allowed_origins_are_normalised() {
        let cfg = base()
            .with_allowed_origin("https://Shop.Example.com/")
            .build()
            .unwrap();
        assert_eq!(cfg.allowed_origins, vec!["https://shop.example.com"]);
    }
}
