//! Builders for the URLs a browser opens: `qrconnect`, `oauth2/authorize`, `showqrcode`.
//!
//! WeChat matches the authorize URL with a strict pattern, so the parameters always come in
//! the documented order (`appid`, `redirect_uri`, `response_type`, `scope`, `state`, then any
//! extras) and the URL ends with `#wechat_redirect`. Every value is percent-encoded except the
//! RFC 3986 unreserved characters, which is what `encodeURIComponent`-style encoding of a
//! `redirect_uri` means.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use super::types::OaScope;

/// Everything but `A-Z a-z 0-9 - . _ ~` is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `base` + `path` + `?k=v&...` (+ `#fragment`), values encoded with [`COMPONENT`].
///
/// `base` always ends with `/` (the client normalises it), so `path` is relative.
fn build(base: &Url, path: &str, params: &[(&str, &str)], fragment: Option<&str>) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(base.as_str());
    out.push_str(path);
    for (i, (key, value)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.extend(utf8_percent_encode(value, COMPONENT));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Website QR login page (`connect/qrconnect`, scope `snsapi_login`).
pub(crate) fn qrconnect_url(
    open_base: &Url,
    appid: &str,
    redirect_uri: &str,
    state: &str,
    lang: Option<&str>,
) -> String {
    let mut params = vec![
        ("appid", appid),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "snsapi_login"),
        ("state", state),
    ];
    if let Some(lang) = lang {
        params.push(("lang", lang));
    }
    build(
        open_base,
        "connect/qrconnect",
        &params,
        Some("wechat_redirect"),
    )
}

/// Official Account web authorization page (`connect/oauth2/authorize`).
pub(crate) fn authorize_url(
    open_base: &Url,
    appid: &str,
    redirect_uri: &str,
    scope: OaScope,
    state: &str,
    force_popup: bool,
) -> String {
    let mut params = vec![
        ("appid", appid),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", scope.as_str()),
        ("state", state),
    ];
    if force_popup {
        params.push(("forcePopup", "true"));
    }
    build(
        open_base,
        "connect/oauth2/authorize",
        &params,
        Some("wechat_redirect"),
    )
}

/// The QR image for a ticket (`cgi-bin/showqrcode`), ticket encoded (`+/=` included).
pub(crate) fn showqrcode_url(mp_base: &Url, ticket: &str) -> String {
    build(mp_base, "cgi-bin/showqrcode", &[("ticket", ticket)], None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn qrconnect_exact_string() {
        let url = qrconnect_url(
            &base("https://open.weixin.qq.com/"),
            "wx1234567890abcdef",
            "https://example.com/auth/wechat/callback?next=/a b&x=1",
            "Ab9xYz",
            None,
        );
        assert_eq!(
            url,
            "https://open.weixin.qq.com/connect/qrconnect?appid=wx1234567890abcdef\
             &redirect_uri=https%3A%2F%2Fexample.com%2Fauth%2Fwechat%2Fcallback%3Fnext%3D%2Fa%20b%26x%3D1\
             &response_type=code&scope=snsapi_login&state=Ab9xYz#wechat_redirect"
        );
    }

    #[test]
    fn qrconnect_lang_comes_after_state() {
        let url = qrconnect_url(
            &base("http://127.0.0.1:4000/"),
            "wxA",
            "http://127.0.0.1:3000/cb",
            "s",
            Some("en"),
        );
        assert_eq!(
            url,
            "http://127.0.0.1:4000/connect/qrconnect?appid=wxA\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb\
             &response_type=code&scope=snsapi_login&state=s&lang=en#wechat_redirect"
        );
    }

    #[test]
    fn authorize_exact_strings() {
        let open = base("https://open.weixin.qq.com/");
        assert_eq!(
            authorize_url(
                &open,
                "wxOA",
                "https://m.example.com/cb?a=1&b=2",
                OaScope::Base,
                "st",
                false
            ),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxOA\
             &redirect_uri=https%3A%2F%2Fm.example.com%2Fcb%3Fa%3D1%26b%3D2\
             &response_type=code&scope=snsapi_base&state=st#wechat_redirect"
        );
        assert_eq!(
            authorize_url(
                &open,
                "wxOA",
                "https://m.example.com/cb",
                OaScope::UserInfo,
                "st",
                true
            ),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxOA\
             &redirect_uri=https%3A%2F%2Fm.example.com%2Fcb\
             &response_type=code&scope=snsapi_userinfo&state=st&forcePopup=true#wechat_redirect"
        );
    }

    #[test]
    fn authorize_parameter_order_is_fixed() {
        let url = authorize_url(
            &base("https://open.weixin.qq.com/"),
            "a",
            "r",
            OaScope::UserInfo,
            "s",
            true,
        );
        let query = url
            .split_once('?')
            .and_then(|(_, q)| q.split_once('#'))
            .map(|(q, _)| q)
            .unwrap();
        let keys: Vec<&str> = query
            .split('&')
            .map(|kv| kv.split_once('=').unwrap().0)
            .collect();
        assert_eq!(
            keys,
            [
                "appid",
                "redirect_uri",
                "response_type",
                "scope",
                "state",
                "forcePopup"
            ]
        );
        assert!(url.ends_with("#wechat_redirect"));
    }

    #[test]
    fn unreserved_characters_stay_and_unicode_is_utf8_encoded() {
        let url = authorize_url(
            &base("https://open.weixin.qq.com/"),
            "a",
            "https://x.cn/p-._~?q=登录#frag",
            OaScope::Base,
            "s",
            false,
        );
        assert!(
            url.contains(
                "redirect_uri=https%3A%2F%2Fx.cn%2Fp-._~%3Fq%3D%E7%99%BB%E5%BD%95%23frag&"
            )
        );
    }

    #[test]
    fn base_with_a_path_prefix() {
        let url = showqrcode_url(&base("http://127.0.0.1:9/mock/mp/"), "T");
        assert_eq!(
            url,
            "http://127.0.0.1:9/mock/mp/cgi-bin/showqrcode?ticket=T"
        );
    }

    #[test]
    fn showqrcode_encodes_ticket() {
        let ticket = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==";
        let url = showqrcode_url(&base("https://mp.weixin.qq.com/"), ticket);
        assert_eq!(
            url,
            "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw%3D%3D"
        );
        let url = showqrcode_url(&base("https://mp.weixin.qq.com/"), "a+b/c=");
        assert_eq!(
            url,
            "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=a%2Bb%2Fc%3D"
        );
        // Decoding gives the ticket back.
        let parsed = Url::parse(&url).unwrap();
        let (_, value) = parsed.query_pairs().next().unwrap();
        assert_eq!(value, "a+b/c=");
    }
}
