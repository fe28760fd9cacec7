//! The typed [`WechatClient`] against the mock WeChat ([`MockWechat`]) over real loopback
//! sockets: every client call, its success and its errors, the browser URLs it builds,
//! retries, timeouts and `text/plain` answers.
//!
//! The two halves were written separately from `wechat-protocol.md`; these tests prove they
//! agree. Expectations come from that document (§ numbers in the comments), the mock's users
//! and apps come from its handle, and time moves with [`MockWechat::advance`] instead of
//! sleeping.

use std::time::{Duration, Instant};

use base64::Engine as _;
use url::Url;
use wechat_auth::Secret;
use wechat_auth::client::{
    ErrorKind, GlobalToken, Lang, OAuthToken, OaScope, QrCodeRequest, WechatClient,
    WechatClientBuilder, WechatError, WxaCodeRequest, describe,
};
use wechat_auth::mock::{AppKind, Fault, MockApp, MockConfig, MockUser, MockWechat, QrScene};

/// A callback the mock accepts: it checks the host only (127.0.0.1 is allowed by default).
const CB: &str = "http://127.0.0.1:1/cb";

/// The eight bytes every PNG file starts with.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A running mock, a client pointed at it for all three hosts, and a "browser" that does not
/// follow redirects.
struct Env {
    mock: MockWechat,
    client: WechatClient,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Self {
        Self::start_with(MockConfig::default()).await
    }

    async fn start_with(cfg: MockConfig) -> Self {
        let mock = MockWechat::start_with(cfg).await.expect("mock starts");
        let client = client_for(&mock, |b| b);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Env { mock, client, http }
    }

    /// A client like [`Env::client`] whose attempts time out after 300 ms.
    fn impatient_client(&self) -> WechatClient {
        client_for(&self.mock, |b| b.with_timeout(Duration::from_millis(300)))
    }

    fn alice(&self) -> MockUser {
        self.mock.user("alice").unwrap()
    }

    /// Opens `url` and returns the `Location` of the 302 the mock must answer.
    async fn redirect(&self, url: &str) -> Url {
        let res = self.http.get(url).send().await.unwrap();
        let status = res.status();
        let reason = res
            .headers()
            .get("x-mock-error")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(status, 302, "{url}: mock error {reason:?}");
        Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
    }

    /// Website QR login (§1) through the client's own `qrconnect_url`, approved by `user`.
    async fn website_code(&self, user: &str) -> String {
        let url = self
            .client
            .qrconnect_url(&self.mock.website().appid, CB, "S1", None);
        let back = self.redirect(&MockWechat::approve_url(&url, user)).await;
        assert_eq!(query(&back, "state").as_deref(), Some("S1"));
        query(&back, "code").expect("approval carries a code")
    }

    /// Official Account web authorization (§2) through the client's `authorize_url`.
    async fn oa_code(&self, scope: OaScope, user: &str) -> String {
        let url =
            self.client
                .authorize_url(&self.mock.official_account().appid, CB, scope, "S2", false);
        let back = self.redirect(&MockWechat::approve_url(&url, user)).await;
        assert_eq!(query(&back, "state").as_deref(), Some("S2"));
        query(&back, "code").expect("approval carries a code")
    }

    /// A code whose exchange is an OA snapshot-page user (§2.4).
    async fn snapshot_code(&self, user: &str) -> String {
        let url = self.client.authorize_url(
            &self.mock.official_account().appid,
            CB,
            OaScope::UserInfo,
            "S3",
            false,
        );
        let back = self.redirect(&MockWechat::snapshot_url(&url, user)).await;
        query(&back, "code").expect("snapshot approval carries a code")
    }

    fn mobile_code(&self, user: &str) -> String {
        self.mock.sdk_code(&self.mock.mobile().appid, user).unwrap()
    }

    fn js_code(&self, user: &str) -> String {
        self.mock
            .sdk_code(&self.mock.mini_program().appid, user)
            .unwrap()
    }

    async fn exchange(&self, app: &MockApp, code: &str) -> Result<OAuthToken, WechatError> {
        self.client
            .oauth2_access_token(&app.appid, &secret(app), code)
            .await
    }

    /// A website user token for `user`.
    async fn website_token(&self, user: &str) -> OAuthToken {
        let code = self.website_code(user).await;
        self.exchange(self.mock.website(), &code).await.unwrap()
    }

    /// A global token of the primary Official Account from `cgi-bin/stable_token`.
    async fn oa_global(&self) -> GlobalToken {
        let oa = self.mock.official_account();
        self.client
            .stable_token(&oa.appid, &secret(oa), false)
            .await
            .unwrap()
    }

    /// The `Content-Type` a raw request to `path` gets (POST when `post`).
    async fn content_type(&self, path: &str, post: bool) -> String {
        let url = format!("{}/{path}", self.mock.url());
        let req = if post {
            self.http.post(url)
        } else {
            self.http.get(url)
        };
        let res = req.send().await.unwrap();
        res.headers()["content-type"].to_str().unwrap().to_owned()
    }
}

fn client_for(
    mock: &MockWechat,
    tune: impl FnOnce(WechatClientBuilder) -> WechatClientBuilder,
) -> WechatClient {
    tune(
        WechatClient::builder()
            .with_api_base(mock.url())
            .with_open_base(mock.url())
            .with_mp_base(mock.url()),
    )
    .build()
    .unwrap()
}

fn secret(app: &MockApp) -> Secret {
    Secret::new(app.secret.clone())
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `err` is WeChat's `errcode` from `endpoint`, classified as `kind`, with a real hint, and
/// WeChat's errmsg (with its `rid:` suffix, §0) kept verbatim.
#[track_caller]
fn assert_api(err: &WechatError, endpoint: &str, errcode: i64, kind: ErrorKind) {
    match err {
        WechatError::Api {
            endpoint: ep,
            errcode: code,
            errmsg,
        } => {
            assert_eq!((*ep, *code), (endpoint, errcode), "{err}");
            assert!(
                errmsg.contains(", rid: "),
                "errmsg not verbatim: {errmsg:?}"
            );
        }
        other => panic!("expected errcode {errcode} from {endpoint}, got {other:?}"),
    }
    assert_eq!(err.errcode(), Some(errcode));
    assert_eq!(err.endpoint(), Some(endpoint));
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(err.is_retryable(), kind == ErrorKind::Retryable);
    assert!(
        describe(errcode).is_some(),
        "{errcode} is not in the client's table"
    );
    assert!(!err.hint().trim().is_empty());
    assert!(err.to_string().contains(&format!("errcode {errcode}")));
}

#[track_caller]
fn assert_timeout(err: &WechatError, endpoint: &str) {
    assert!(
        matches!(err, WechatError::Timeout { endpoint: ep } if *ep == endpoint),
        "expected a timeout of {endpoint}, got {err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Retryable);
    assert_eq!(err.errcode(), None);
    assert!(!err.hint().is_empty());
}

// ---------------------------------------------------------------------------------------
// Browser URLs (§1, §2, §6.2)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn qrconnect_url_is_accepted_and_round_trips_redirect_uri_and_state() {
    let env = Env::start().await;
    let site = env.mock.website();

    // Without mock_user the page is the consent page, not an error page.
    let url = env.client.qrconnect_url(&site.appid, CB, "S1", None);
    assert!(url.ends_with("#wechat_redirect"), "{url}");
    let res = env.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("x-mock-error"), None);
    assert!(res.text().await.unwrap().contains("approve as alice"));

    // A redirect_uri with its own (encoded) query survives the trip: the client encodes it
    // as a component, the mock decodes it and appends code and state.
    let cb = "http://127.0.0.1:1/cb?next=%2Fa%20b&x=1";
    for lang in [None, Some("en"), Some("cn")] {
        let url = env.client.qrconnect_url(&site.appid, cb, "Ab9xYz", lang);
        let back = env.redirect(&MockWechat::approve_url(&url, "alice")).await;
        assert_eq!(back.host_str(), Some("127.0.0.1"));
        assert_eq!(back.port(), Some(1));
        assert_eq!(back.path(), "/cb");
        assert_eq!(query(&back, "next").as_deref(), Some("/a b"));
        assert_eq!(query(&back, "x").as_deref(), Some("1"));
        assert_eq!(query(&back, "state").as_deref(), Some("Ab9xYz"));
        let code = query(&back, "code").unwrap();
        // §12: codes are 32 alphanumeric characters.
        assert_eq!(code.len(), 32, "{code}");
        assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
        // And the code is good for the website app.
        let token = env.exchange(site, &code).await.unwrap();
        assert_eq!(token.scope, "snsapi_login");
    }
    assert_eq!(env.mock.calls("connect/qrconnect"), 4);
}

#[tokio::test]
async fn authorize_url_is_accepted_for_both_scopes_and_force_popup() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let alice = env.alice();

    for scope in [OaScope::Base, OaScope::UserInfo] {
        for force_popup in [false, true] {
            let url = env
                .client
                .authorize_url(&oa.appid, CB, scope, "st", force_popup);
            assert!(url.ends_with("#wechat_redirect"), "{url}");
            // The consent page opens (parameter order and encoding accepted).
            let res = env.http.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(res.headers().get("x-mock-error"), None, "{url}");

            let back = env.redirect(&MockWechat::approve_url(&url, "alice")).await;
            assert_eq!(back.path(), "/cb");
            assert_eq!(query(&back, "state").as_deref(), Some("st"));
            let code = query(&back, "code").unwrap();
            let token = env.exchange(oa, &code).await.unwrap();
            assert_eq!(token.scope, scope.as_str());
            assert_eq!(token.openid, alice.openid_for(&oa.appid));
        }
    }

    // The acceptance above means something: the mock refuses the same URL with two
    // parameters swapped (§2.1, "parameter order matters").
    let swapped = format!(
        "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&scope=snsapi_base&response_type=code&state=st",
        env.mock.url(),
        oa.appid,
        "http%3A%2F%2F127.0.0.1%3A1%2Fcb",
    );
    let res = env
        .http
        .get(MockWechat::approve_url(&swapped, "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "an error page, not a redirect");
    assert_eq!(res.headers()["x-mock-error"], "param_order");
}

#[tokio::test]
async fn showqrcode_url_serves_a_png_and_404s_unknown_or_expired_tickets() {
    let env = Env::start().await;
    let global = env.oa_global().await;
    let ticket = env
        .client
        .qrcode_create(
            &global.access_token,
            &QrCodeRequest::temporary_str("login_png", 60),
        )
        .await
        .unwrap();
    // Mock tickets always contain `+`, `/` and `=` (§6.1), so encoding matters.
    assert!(ticket.ticket.contains('+') && ticket.ticket.contains('/'));

    let url = env.client.showqrcode_url(&ticket.ticket);
    assert!(url.starts_with(&format!("{}/cgi-bin/showqrcode?ticket=", env.mock.url())));
    let res = env.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    let png = res.bytes().await.unwrap();
    assert!(png.starts_with(PNG_MAGIC), "not a PNG");
    assert!(png.len() > 100);

    // The same ticket unencoded (`+` read as a space) is not found: the client's encoding
    // is what makes the URL work.
    let raw = format!(
        "{}/cgi-bin/showqrcode?ticket={}",
        env.mock.url(),
        ticket.ticket
    );
    assert_eq!(env.http.get(&raw).send().await.unwrap().status(), 404);

    // §6.2: an invalid ticket is HTTP 404.
    let garbage = env.client.showqrcode_url("gQH4+/not-a-ticket==");
    assert_eq!(env.http.get(&garbage).send().await.unwrap().status(), 404);

    // An expired temporary ticket has no image either.
    env.mock.advance(Duration::from_secs(61));
    assert_eq!(env.http.get(&url).send().await.unwrap().status(), 404);
    assert_eq!(env.mock.calls("cgi-bin/showqrcode"), 4);
}

// ---------------------------------------------------------------------------------------
// sns/oauth2/access_token (§3.1, §10, §12)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn website_code_exchange_matches_the_mock_user() {
    let env = Env::start().await;
    let site = env.mock.website();
    let alice = env.alice();
    let code = env.website_code("alice").await;
    let token = env.exchange(site, &code).await.unwrap();

    assert_eq!(token.openid, alice.openid_for(&site.appid));
    assert_eq!(token.unionid.as_deref(), Some(alice.unionid.as_str()));
    assert_eq!(token.scope, "snsapi_login");
    assert_eq!(token.expires_in, 7200);
    assert!(!token.is_snapshotuser);
    assert!(!token.access_token.is_empty());
    assert!(!token.refresh_token.is_empty());
    assert_ne!(token.access_token, token.refresh_token);
    assert_eq!(env.mock.calls("sns/oauth2/access_token"), 1);

    // Another user, another identity.
    let bob = env.mock.user("bob").unwrap();
    let token = env.website_token("bob").await;
    assert_eq!(token.openid, bob.openid_for(&site.appid));
    assert_eq!(token.unionid.as_deref(), Some(bob.unionid.as_str()));
}

#[tokio::test]
async fn oa_exchange_unionid_only_with_snsapi_userinfo() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let alice = env.alice();

    let code = env.oa_code(OaScope::UserInfo, "alice").await;
    let token = env.exchange(oa, &code).await.unwrap();
    assert_eq!(token.scope, "snsapi_userinfo");
    assert_eq!(token.openid, alice.openid_for(&oa.appid));
    assert_eq!(token.unionid.as_deref(), Some(alice.unionid.as_str()));
    assert_eq!(token.expires_in, 7200);
    assert!(!token.is_snapshotuser);

    // §3.1 / §10: no unionid for snsapi_base.
    let code = env.oa_code(OaScope::Base, "alice").await;
    let token = env.exchange(oa, &code).await.unwrap();
    assert_eq!(token.scope, "snsapi_base");
    assert_eq!(token.openid, alice.openid_for(&oa.appid));
    assert_eq!(token.unionid, None);
    assert!(!token.is_snapshotuser);
}

#[tokio::test]
async fn snapshot_user_is_flagged_and_gets_virtual_ids() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let alice = env.alice();
    let code = env.snapshot_code("alice").await;
    let token = env.exchange(oa, &code).await.unwrap();

    // §2.4: `is_snapshotuser: 1` and virtual openid/unionid.
    assert!(token.is_snapshotuser);
    assert_eq!(token.scope, "snsapi_userinfo");
    assert_ne!(token.openid, alice.openid_for(&oa.appid));
    assert!(token.openid.starts_with('o') && token.openid.len() == 28);
    let unionid = token
        .unionid
        .clone()
        .expect("bound app: a (virtual) unionid");
    assert_ne!(unionid, alice.unionid);

    // The token reads the virtual profile, consistently with the exchange.
    let me = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(me.openid, token.openid);
    assert_eq!(me.unionid.as_deref(), Some(unionid.as_str()));
    assert_ne!(me.nickname, alice.nickname);
}

#[tokio::test]
async fn mobile_sdk_code_exchange() {
    let env = Env::start().await;
    let mobile = env.mock.mobile();
    let alice = env.alice();
    let code = env.mobile_code("alice");
    let token = env.exchange(mobile, &code).await.unwrap();
    // §9: the mobile SDK asks for snsapi_userinfo.
    assert_eq!(token.scope, "snsapi_userinfo");
    assert_eq!(token.openid, alice.openid_for(&mobile.appid));
    assert_eq!(token.unionid.as_deref(), Some(alice.unionid.as_str()));
    assert_eq!(token.expires_in, 7200);
    assert!(!token.is_snapshotuser);
}

#[tokio::test]
async fn one_unionid_across_apps_and_an_openid_per_app() {
    let env = Env::start().await;
    let m = &env.mock;
    for name in ["alice", "bob"] {
        let user = m.user(name).unwrap();
        let web = env.website_token(name).await;
        let oa_code = env.oa_code(OaScope::UserInfo, name).await;
        let oa = env.exchange(m.official_account(), &oa_code).await.unwrap();
        let app = env
            .exchange(m.mobile(), &env.mobile_code(name))
            .await
            .unwrap();
        let mini = m.mini_program();
        let session = env
            .client
            .jscode2session(&mini.appid, &secret(mini), &env.js_code(name))
            .await
            .unwrap();

        let ids = [
            (&m.website().appid, &web.openid, web.unionid.as_deref()),
            (
                &m.official_account().appid,
                &oa.openid,
                oa.unionid.as_deref(),
            ),
            (&m.mobile().appid, &app.openid, app.unionid.as_deref()),
            (&mini.appid, &session.openid, session.unionid.as_deref()),
        ];
        for (appid, openid, unionid) in ids {
            assert_eq!(*openid, user.openid_for(appid), "{name} in {appid}");
            assert_eq!(unionid, Some(user.unionid.as_str()), "{name} in {appid}");
        }
        let mut openids: Vec<&String> = ids.iter().map(|(_, o, _)| *o).collect();
        openids.sort();
        openids.dedup();
        assert_eq!(openids.len(), 4, "openids differ per app");
    }
    assert_ne!(
        m.user("alice").unwrap().unionid,
        m.user("bob").unwrap().unionid
    );
}

#[tokio::test]
async fn unbound_app_gets_no_unionid() {
    let cfg = MockConfig::default().with_app(MockApp::default_for(AppKind::Website).unbound());
    let env = Env::start_with(cfg).await;
    let token = env.website_token("alice").await;
    assert_eq!(
        token.openid,
        env.alice().openid_for(&env.mock.website().appid)
    );
    // §10: not bound to an Open Platform account ⇒ `unionid` is absent.
    assert_eq!(token.unionid, None);
    let me = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(me.unionid, None);
}

#[tokio::test]
async fn garbage_code_is_40029() {
    let env = Env::start().await;
    let err = env
        .exchange(env.mock.website(), "001HKCFa1UWlqz0ZsPHa1zrEwD2HKCF3")
        .await
        .unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40029,
        ErrorKind::LoginAgain,
    );
    assert_eq!(env.mock.calls("sns/oauth2/access_token"), 1, "not retried");
}

#[tokio::test]
async fn code_from_another_appid_is_40029() {
    let env = Env::start().await;
    let m = &env.mock;

    // A website code exchanged with the mobile app's credentials.
    let code = env.website_code("alice").await;
    let err = env.exchange(m.mobile(), &code).await.unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40029,
        ErrorKind::LoginAgain,
    );
    // An OA code exchanged with the website's credentials.
    let oa_code = env.oa_code(OaScope::UserInfo, "alice").await;
    let err = env.exchange(m.website(), &oa_code).await.unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40029,
        ErrorKind::LoginAgain,
    );
    // A mini program js_code is no OAuth code, even with the mini program's credentials.
    let js = env.js_code("alice");
    let err = env.exchange(m.mini_program(), &js).await.unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40029,
        ErrorKind::LoginAgain,
    );

    // The refusals did not spend the codes: each still works for its own app.
    assert!(env.exchange(m.website(), &code).await.is_ok());
    assert!(env.exchange(m.official_account(), &oa_code).await.is_ok());
}

#[tokio::test]
async fn second_exchange_is_40163_and_not_retried() {
    let env = Env::start().await;
    let site = env.mock.website();
    let code = env.website_code("alice").await;
    env.exchange(site, &code).await.unwrap();
    let err = env.exchange(site, &code).await.unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40163,
        ErrorKind::LoginAgain,
    );
    // One call per exchange: a business error is never retried.
    assert_eq!(env.mock.calls("sns/oauth2/access_token"), 2);
}

#[tokio::test]
async fn expired_code_is_42003() {
    let env = Env::start().await;
    let m = &env.mock;

    // §1.1 / §3.5: website codes live 10 minutes, OA codes 5.
    let web_late = env.website_code("alice").await;
    let web_ok = env.website_code("alice").await;
    let oa_late = env.oa_code(OaScope::UserInfo, "alice").await;
    m.advance(Duration::from_secs(301));
    let err = env
        .exchange(m.official_account(), &oa_late)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        42003,
        ErrorKind::LoginAgain,
    );
    env.exchange(m.website(), &web_ok)
        .await
        .expect("a website code still lives after 5 minutes");

    m.advance(Duration::from_secs(300));
    let err = env.exchange(m.website(), &web_late).await.unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        42003,
        ErrorKind::LoginAgain,
    );
    assert_eq!(m.calls("sns/oauth2/access_token"), 3, "not retried");
}

#[tokio::test]
async fn wrong_secret_is_40125_and_unknown_appid_40013() {
    let env = Env::start().await;
    let site = env.mock.website();
    let code = env.website_code("alice").await;

    let err = env
        .client
        .oauth2_access_token(&site.appid, &Secret::new("not-the-secret"), &code)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40125,
        ErrorKind::Configuration,
    );

    let err = env
        .client
        .oauth2_access_token("wx9999999999999999", &secret(site), &code)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40013,
        ErrorKind::Configuration,
    );
    assert_eq!(env.mock.calls("sns/oauth2/access_token"), 2, "not retried");
}

// ---------------------------------------------------------------------------------------
// sns/oauth2/refresh_token (§3.2)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_renews_a_valid_token_and_replaces_an_expired_one() {
    let env = Env::start().await;
    let site = env.mock.website();
    let token = env.website_token("alice").await;

    // Still valid: the same access_token, with a fresh expiry.
    env.mock.advance(Duration::from_secs(7000));
    let renewed = env
        .client
        .oauth2_refresh_token(&site.appid, &token.refresh_token)
        .await
        .unwrap();
    assert_eq!(renewed.access_token, token.access_token);
    assert_eq!(renewed.expires_in, 7200);
    assert_eq!(renewed.openid, token.openid);
    assert_eq!(renewed.scope, "snsapi_login");
    // §3.2: the refresh answer has no unionid and no snapshot flag.
    assert_eq!(renewed.unionid, None);
    assert!(!renewed.is_snapshotuser);
    assert!(!renewed.refresh_token.is_empty());

    // The expiry really moved: 7000 s after the renewal (14000 s after the exchange, past
    // the original 7200 s) the token still reads the profile.
    env.mock.advance(Duration::from_secs(7000));
    env.client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .expect("renewed token is valid past its first expiry");

    // Expired: a new access_token.
    env.mock.advance(Duration::from_secs(201));
    let err = env
        .client
        .sns_auth(&token.access_token, &token.openid)
        .await
        .unwrap_err();
    assert_api(&err, "sns/auth", 42001, ErrorKind::TokenInvalid);
    let fresh = env
        .client
        .oauth2_refresh_token(&site.appid, &renewed.refresh_token)
        .await
        .unwrap();
    assert_ne!(fresh.access_token, token.access_token);
    assert_eq!(fresh.openid, token.openid);
    assert_eq!(fresh.expires_in, 7200);
    let me = env
        .client
        .userinfo(&fresh.access_token, &fresh.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(me.openid, token.openid);
    // The refresh token now renews the new access_token.
    let renewed_again = env
        .client
        .oauth2_refresh_token(&site.appid, &token.refresh_token)
        .await
        .unwrap();
    assert_eq!(renewed_again.access_token, fresh.access_token);
    assert_eq!(env.mock.calls("sns/oauth2/refresh_token"), 3);
}

#[tokio::test]
async fn refresh_with_a_bad_token_is_40030_and_an_expired_one_42002() {
    let env = Env::start().await;
    let m = &env.mock;
    let token = env.website_token("alice").await;

    let err = env
        .client
        .oauth2_refresh_token(&m.website().appid, &Secret::new("86_not-a-refresh-token"))
        .await
        .unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/refresh_token",
        40030,
        ErrorKind::LoginAgain,
    );

    // A refresh token belongs to its app.
    let err = env
        .client
        .oauth2_refresh_token(&m.mobile().appid, &token.refresh_token)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/refresh_token",
        40030,
        ErrorKind::LoginAgain,
    );

    // §3.5: refresh tokens last 30 days (the mock's default) and cannot be extended.
    m.advance(Duration::from_secs(30 * 24 * 3600 + 1));
    let err = env
        .client
        .oauth2_refresh_token(&m.website().appid, &token.refresh_token)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/refresh_token",
        42002,
        ErrorKind::LoginAgain,
    );
    assert_eq!(m.calls("sns/oauth2/refresh_token"), 3, "none retried");
}

// ---------------------------------------------------------------------------------------
// sns/userinfo and sns/auth (§3.3, §3.4)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn userinfo_matches_the_mock_user_in_every_language() {
    let env = Env::start().await;
    let alice = env.alice();
    let token = env.website_token("alice").await;

    for lang in [Lang::ZhCn, Lang::En, Lang::ZhTw] {
        let me = env
            .client
            .userinfo(&token.access_token, &token.openid, lang)
            .await
            .unwrap();
        assert_eq!(me.openid, token.openid);
        assert_eq!(me.nickname, alice.nickname);
        assert_eq!(me.nickname, "爱丽丝", "UTF-8 survives");
        assert_eq!(me.unionid.as_deref(), Some(alice.unionid.as_str()));
        // §2.5: sex and region emptied since 2021-10.
        assert_eq!(me.sex, 0);
        assert_eq!(
            (me.province.as_str(), me.city.as_str(), me.country.as_str()),
            ("", "", "")
        );
        assert!(me.privilege.is_empty());
        assert_eq!(me.headimgurl, alice.headimgurl);
    }
    assert_eq!(env.mock.calls("sns/userinfo"), 3);

    // §3.3: the last path segment of headimgurl is the size; the mock serves the image.
    let token_for_bob = env.website_token("bob").await;
    let bob = env
        .client
        .userinfo(&token_for_bob.access_token, &token_for_bob.openid, Lang::En)
        .await
        .unwrap();
    assert_eq!(bob.nickname, "Bob");
    assert!(bob.headimgurl.ends_with("/132"), "{}", bob.headimgurl);
    let res = env.http.get(&bob.headimgurl).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.unwrap().starts_with(PNG_MAGIC));

    // A mobile (snsapi_userinfo) token reads the profile too.
    let mobile = env.mock.mobile();
    let app_token = env
        .exchange(mobile, &env.mobile_code("alice"))
        .await
        .unwrap();
    let me = env
        .client
        .userinfo(&app_token.access_token, &app_token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(me.openid, alice.openid_for(&mobile.appid));
    assert_eq!(me.nickname, alice.nickname);
}

#[tokio::test]
async fn userinfo_with_a_snsapi_base_token_is_48001() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let code = env.oa_code(OaScope::Base, "alice").await;
    let token = env.exchange(oa, &code).await.unwrap();
    let err = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap_err();
    assert_api(&err, "sns/userinfo", 48001, ErrorKind::Configuration);
    assert!(err.hint().contains("snsapi_base"), "{}", err.hint());
    assert_eq!(env.mock.calls("sns/userinfo"), 1, "not retried");
    // The base token is still a valid token for its openid.
    env.client
        .sns_auth(&token.access_token, &token.openid)
        .await
        .unwrap();
}

#[tokio::test]
async fn expired_user_token_is_42001() {
    let env = Env::start().await;
    let token = env.website_token("alice").await;
    env.mock.advance(Duration::from_secs(7201));
    let err = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap_err();
    assert_api(&err, "sns/userinfo", 42001, ErrorKind::TokenInvalid);
    let err = env
        .client
        .sns_auth(&token.access_token, &token.openid)
        .await
        .unwrap_err();
    assert_api(&err, "sns/auth", 42001, ErrorKind::TokenInvalid);
    assert_eq!(env.mock.calls("sns/userinfo"), 1, "not retried");
    assert_eq!(env.mock.calls("sns/auth"), 1, "not retried");
}

#[tokio::test]
async fn userinfo_with_an_unknown_token_is_40014_and_another_openid_40003() {
    let env = Env::start().await;
    let token = env.website_token("alice").await;
    let err = env
        .client
        .userinfo(&Secret::new("86_garbage"), &token.openid, Lang::ZhCn)
        .await
        .unwrap_err();
    assert_api(&err, "sns/userinfo", 40014, ErrorKind::TokenInvalid);

    let bob = env.mock.user("bob").unwrap();
    let err = env
        .client
        .userinfo(
            &token.access_token,
            &bob.openid_for(&env.mock.website().appid),
            Lang::ZhCn,
        )
        .await
        .unwrap_err();
    assert_api(&err, "sns/userinfo", 40003, ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn sns_auth_accepts_the_right_openid_and_refuses_others_with_40003() {
    let env = Env::start().await;
    let m = &env.mock;
    let token = env.website_token("alice").await;

    // §3.4: `{"errcode":0,"errmsg":"ok"}` is success.
    env.client
        .sns_auth(&token.access_token, &token.openid)
        .await
        .unwrap();

    let bob = m.user("bob").unwrap();
    let err = env
        .client
        .sns_auth(&token.access_token, &bob.openid_for(&m.website().appid))
        .await
        .unwrap_err();
    assert_api(&err, "sns/auth", 40003, ErrorKind::InvalidRequest);

    // Alice's openid in another app is not this token's openid either.
    let err = env
        .client
        .sns_auth(
            &token.access_token,
            &env.alice().openid_for(&m.mobile().appid),
        )
        .await
        .unwrap_err();
    assert_api(&err, "sns/auth", 40003, ErrorKind::InvalidRequest);

    let err = env
        .client
        .sns_auth(&Secret::new("86_garbage"), &token.openid)
        .await
        .unwrap_err();
    assert_api(&err, "sns/auth", 40014, ErrorKind::TokenInvalid);
    assert_eq!(m.calls("sns/auth"), 4);
}

// ---------------------------------------------------------------------------------------
// sns/jscode2session (§8)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn jscode2session_matches_the_mock_user() {
    let env = Env::start().await;
    let mini = env.mock.mini_program();
    let alice = env.alice();
    let session = env
        .client
        .jscode2session(&mini.appid, &secret(mini), &env.js_code("alice"))
        .await
        .unwrap();
    assert_eq!(session.openid, alice.openid_for(&mini.appid));
    assert_eq!(session.unionid.as_deref(), Some(alice.unionid.as_str()));
    // §8: base64 of 16 bytes, 24 characters.
    let key = session.session_key.expose();
    assert_eq!(key.len(), 24, "{key}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("session_key is standard base64");
    assert_eq!(raw.len(), 16);
    assert_eq!(
        env.mock
            .session_key(&mini.appid, &session.openid)
            .as_deref(),
        Some(key),
        "the mock hands the current key to fixtures"
    );
    assert_eq!(env.mock.calls("sns/jscode2session"), 1);
}

#[tokio::test]
async fn jscode2session_code_errors() {
    let env = Env::start().await;
    let m = &env.mock;
    let mini = m.mini_program();
    let s = secret(mini);

    let err = env
        .client
        .jscode2session(&mini.appid, &s, "0a3Xm7Ga1Dnk7K0HK9Ha1ZuPiF0Xm7Gu")
        .await
        .unwrap_err();
    assert_api(&err, "sns/jscode2session", 40029, ErrorKind::LoginAgain);

    // An OAuth code (mobile SDK) is no js_code.
    let err = env
        .client
        .jscode2session(&mini.appid, &s, &env.mobile_code("alice"))
        .await
        .unwrap_err();
    assert_api(&err, "sns/jscode2session", 40029, ErrorKind::LoginAgain);

    // Used once only (§8 "usable once"; 40163 observed).
    let code = env.js_code("alice");
    env.client
        .jscode2session(&mini.appid, &s, &code)
        .await
        .unwrap();
    let err = env
        .client
        .jscode2session(&mini.appid, &s, &code)
        .await
        .unwrap_err();
    assert_api(&err, "sns/jscode2session", 40163, ErrorKind::LoginAgain);

    // Valid 5 minutes; the mini program doc has no 42003, an old js_code is just invalid.
    let code = env.js_code("alice");
    m.advance(Duration::from_secs(301));
    let err = env
        .client
        .jscode2session(&mini.appid, &s, &code)
        .await
        .unwrap_err();
    assert_api(&err, "sns/jscode2session", 40029, ErrorKind::LoginAgain);

    let err = env
        .client
        .jscode2session(&mini.appid, &Secret::new("wrong"), &env.js_code("alice"))
        .await
        .unwrap_err();
    assert_api(&err, "sns/jscode2session", 40125, ErrorKind::Configuration);
    let err = env
        .client
        .jscode2session("wx9999999999999999", &s, &env.js_code("alice"))
        .await
        .unwrap_err();
    assert_api(&err, "sns/jscode2session", 40013, ErrorKind::Configuration);
    assert_eq!(m.calls("sns/jscode2session"), 7, "none retried");
}

#[tokio::test]
async fn jscode2session_blocked_user_is_40226() {
    let env = Env::start().await;
    let mini = env.mock.mini_program();
    env.mock.set_blocked("carol", true).unwrap();
    let err = env
        .client
        .jscode2session(&mini.appid, &secret(mini), &env.js_code("carol"))
        .await
        .unwrap_err();
    assert_api(&err, "sns/jscode2session", 40226, ErrorKind::LoginAgain);
    assert_eq!(env.mock.calls("sns/jscode2session"), 1);
    // Others log in as usual.
    env.client
        .jscode2session(&mini.appid, &secret(mini), &env.js_code("alice"))
        .await
        .unwrap();
}

#[tokio::test]
async fn jscode2session_over_100_per_user_per_minute_is_45011() {
    let env = Env::start().await;
    let m = &env.mock;
    let mini = m.mini_program();
    let s = secret(mini);
    for i in 0..100 {
        env.client
            .jscode2session(&mini.appid, &s, &env.js_code("bob"))
            .await
            .unwrap_or_else(|e| panic!("login {i}: {e}"));
    }
    let err = env
        .client
        .jscode2session(&mini.appid, &s, &env.js_code("bob"))
        .await
        .unwrap_err();
    assert_api(&err, "sns/jscode2session", 45011, ErrorKind::Quota);
    assert_eq!(
        m.calls("sns/jscode2session"),
        101,
        "quota errors are not retried"
    );

    // The limit is per user: Alice is unaffected.
    env.client
        .jscode2session(&mini.appid, &s, &env.js_code("alice"))
        .await
        .unwrap();
    // And it is per minute.
    m.advance(Duration::from_secs(61));
    env.client
        .jscode2session(&mini.appid, &s, &env.js_code("bob"))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// cgi-bin/token and cgi-bin/stable_token (§5)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn token_is_fresh_on_every_fetch_with_a_five_minute_overlap() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let first = env.client.token(&oa.appid, &secret(oa)).await.unwrap();
    assert_eq!(first.expires_in, 7200);
    assert!(!first.access_token.is_empty());
    let second = env.client.token(&oa.appid, &secret(oa)).await.unwrap();
    assert_ne!(first.access_token, second.access_token);

    // Both work during the overlap.
    let qr = QrCodeRequest::temporary_str("overlap", 60);
    env.client
        .qrcode_create(&first.access_token, &qr)
        .await
        .expect("the old token lives 5 more minutes");
    env.mock.advance(Duration::from_secs(299));
    env.client
        .qrcode_create(&first.access_token, &qr)
        .await
        .expect("still inside the overlap");

    // After the overlap the old token is 40001; the new one is fine.
    env.mock.advance(Duration::from_secs(2));
    let err = env
        .client
        .qrcode_create(&first.access_token, &qr)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "cgi-bin/qrcode/create",
        40001,
        ErrorKind::TokenInvalid,
    );
    // Not the "wrong AppSecret" reading of 40001, which only token endpoints get.
    assert!(err.hint().contains("superseded"), "{}", err.hint());
    env.client
        .qrcode_create(&second.access_token, &qr)
        .await
        .unwrap();
    assert_eq!(env.mock.calls("cgi-bin/token"), 2);
    assert_eq!(
        env.mock.calls("cgi-bin/qrcode/create"),
        4,
        "40001 not retried"
    );
}

#[tokio::test]
async fn global_token_expires_with_42001() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let token = env.client.token(&oa.appid, &secret(oa)).await.unwrap();
    env.mock.advance(Duration::from_secs(7201));
    let err = env
        .client
        .qrcode_create(&token.access_token, &QrCodeRequest::permanent_int(1))
        .await
        .unwrap_err();
    assert_api(
        &err,
        "cgi-bin/qrcode/create",
        42001,
        ErrorKind::TokenInvalid,
    );
    let err = env
        .client
        .user_info(
            &token.access_token,
            &env.alice().openid_for(&oa.appid),
            Lang::ZhCn,
        )
        .await
        .unwrap_err();
    assert_api(&err, "cgi-bin/user/info", 42001, ErrorKind::TokenInvalid);
}

#[tokio::test]
async fn token_errors_are_configuration_errors() {
    let env = Env::start().await;
    let oa = env.mock.official_account();

    // A wrong AppSecret. §4 gives 40001 for this on token endpoints and 40125 ("invalid
    // appsecret") in general; the client must call either a configuration error.
    let wrong = Secret::new("0000000000000000000000000000000");
    for (endpoint, err) in [
        (
            "cgi-bin/token",
            env.client.token(&oa.appid, &wrong).await.unwrap_err(),
        ),
        (
            "cgi-bin/stable_token",
            env.client
                .stable_token(&oa.appid, &wrong, false)
                .await
                .unwrap_err(),
        ),
    ] {
        let code = err.errcode().unwrap_or_else(|| panic!("{err:?}"));
        // The mock answers as WeChat does today (protocol §19.1): 40125 invalid appsecret.
        assert_eq!(code, 40125, "{endpoint}: {err}");
        assert_api(&err, endpoint, code, ErrorKind::Configuration);
        assert!(err.hint().contains("AppSecret"), "{}", err.hint());
    }
    // §5.1: `{"errcode":40013,"errmsg":"invalid appid"}`.
    let err = env
        .client
        .token("wx9999999999999999", &secret(oa))
        .await
        .unwrap_err();
    assert_api(&err, "cgi-bin/token", 40013, ErrorKind::Configuration);
    let err = env
        .client
        .stable_token("wx9999999999999999", &secret(oa), false)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "cgi-bin/stable_token",
        40013,
        ErrorKind::Configuration,
    );

    // WeChat's 40001 from a token endpoint means the AppSecret: the client says so.
    env.mock.inject("cgi-bin/token", Fault::Errcode(40001), 1);
    env.mock
        .inject("cgi-bin/stable_token", Fault::Errcode(40001), 1);
    for err in [
        env.client.token(&oa.appid, &secret(oa)).await.unwrap_err(),
        env.client
            .stable_token(&oa.appid, &secret(oa), false)
            .await
            .unwrap_err(),
    ] {
        let endpoint = err.endpoint().unwrap();
        assert_api(&err, endpoint, 40001, ErrorKind::Configuration);
        assert!(err.hint().contains("AppSecret"), "{}", err.hint());
    }
    assert_eq!(env.mock.calls("cgi-bin/token"), 3, "none retried");
    assert_eq!(env.mock.calls("cgi-bin/stable_token"), 3, "none retried");
}

#[tokio::test]
async fn stable_token_is_stable_until_forced() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let s = secret(oa);
    let a = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    let b = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    assert_eq!(a.access_token, b.access_token);
    // §5.2: any returned expires_in is ≥ 300 (and at most 7200).
    for t in [&a, &b] {
        assert!((300..=7200).contains(&t.expires_in), "{}", t.expires_in);
    }

    // Forced: a new token.
    let forced = env.client.stable_token(&oa.appid, &s, true).await.unwrap();
    assert_ne!(forced.access_token, a.access_token);
    assert!((300..=7200).contains(&forced.expires_in));
    // Normal mode now hands out the forced one.
    let c = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    assert_eq!(c.access_token, forced.access_token);
    // Forcing again within 30 s does not refresh.
    let again = env.client.stable_token(&oa.appid, &s, true).await.unwrap();
    assert_eq!(again.access_token, forced.access_token);

    // Two forced refreshes 30 s apart kill a leaked token (§5.2).
    env.mock.advance(Duration::from_secs(31));
    let forced2 = env.client.stable_token(&oa.appid, &s, true).await.unwrap();
    assert_ne!(forced2.access_token, forced.access_token);
    let qr = QrCodeRequest::temporary_str("stable", 60);
    let err = env
        .client
        .qrcode_create(&a.access_token, &qr)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "cgi-bin/qrcode/create",
        40001,
        ErrorKind::TokenInvalid,
    );
    env.client
        .qrcode_create(&forced2.access_token, &qr)
        .await
        .unwrap();
    assert_eq!(env.mock.calls("cgi-bin/stable_token"), 6);
}

#[tokio::test]
async fn stable_token_rotates_in_its_last_five_minutes() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let s = secret(oa);
    let first = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    assert_eq!(first.expires_in, 7200);

    // With 400 s left: the same token, and its remaining life.
    env.mock.advance(Duration::from_secs(6800));
    let same = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    assert_eq!(same.access_token, first.access_token);
    assert!(
        (300..=400).contains(&same.expires_in),
        "{}",
        same.expires_in
    );

    // Under 300 s left: rotated (§5.2: any returned expires_in is ≥ 300)…
    env.mock.advance(Duration::from_secs(150));
    let next = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    assert_ne!(next.access_token, first.access_token);
    assert!(next.expires_in >= 300, "{}", next.expires_in);
    // …and old and new overlap.
    let qr = QrCodeRequest::temporary_str("rotate", 60);
    env.client
        .qrcode_create(&first.access_token, &qr)
        .await
        .expect("the old token lives out its last minutes");
    env.client
        .qrcode_create(&next.access_token, &qr)
        .await
        .unwrap();

    // Once its life is over the old one is refused; either errcode says "get a new token".
    env.mock.advance(Duration::from_secs(251));
    let err = env
        .client
        .qrcode_create(&first.access_token, &qr)
        .await
        .unwrap_err();
    let code = err.errcode().unwrap_or_else(|| panic!("{err:?}"));
    assert!(matches!(code, 40001 | 42001), "{err}");
    assert_api(&err, "cgi-bin/qrcode/create", code, ErrorKind::TokenInvalid);
    let again = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    assert_eq!(again.access_token, next.access_token);
}

#[tokio::test]
async fn stable_token_and_token_are_isolated() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let s = secret(oa);
    let stable = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    // Two cgi-bin/token fetches would supersede any earlier cgi-bin/token token…
    let basic = env.client.token(&oa.appid, &s).await.unwrap();
    env.client.token(&oa.appid, &s).await.unwrap();
    env.client.token(&oa.appid, &s).await.unwrap();
    assert_ne!(basic.access_token, stable.access_token);
    // …but the stable token is untouched (§5.2 "fully isolated").
    let again = env.client.stable_token(&oa.appid, &s, false).await.unwrap();
    assert_eq!(again.access_token, stable.access_token);
    env.client
        .qrcode_create(&stable.access_token, &QrCodeRequest::temporary_int(7, 60))
        .await
        .unwrap();
}

#[tokio::test]
async fn forced_stable_token_is_limited_to_20_a_day() {
    let env = Env::start().await;
    let oa = env.mock.official_account();
    let s = secret(oa);
    let mut seen = Vec::new();
    for _ in 0..20 {
        let t = env.client.stable_token(&oa.appid, &s, true).await.unwrap();
        seen.push(t.access_token.expose().to_owned());
        env.mock.advance(Duration::from_secs(31));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20, "each forced refresh 30 s apart is new");
    let err = env
        .client
        .stable_token(&oa.appid, &s, true)
        .await
        .unwrap_err();
    assert_api(&err, "cgi-bin/stable_token", 45009, ErrorKind::Quota);
    assert_eq!(env.mock.calls("cgi-bin/stable_token"), 21, "not retried");
    // Normal mode keeps working.
    env.client.stable_token(&oa.appid, &s, false).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// cgi-bin/qrcode/create and cgi-bin/user/info (§6, §7)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn qrcode_create_temporary_and_permanent() {
    let env = Env::start().await;
    let m = &env.mock;
    let oa = m.official_account();
    let global = env.oa_global().await;
    let token = &global.access_token;

    let cases = [
        (
            QrCodeRequest::temporary_str("login_3f9a2c", 300),
            QrScene::Str("login_3f9a2c".into()),
            Some(300),
        ),
        (
            QrCodeRequest::temporary_int(123, 604_800),
            QrScene::Id(123),
            Some(604_800),
        ),
        (
            QrCodeRequest::permanent_str("promo"),
            QrScene::Str("promo".into()),
            None,
        ),
        (QrCodeRequest::permanent_int(42), QrScene::Id(42), None),
        // UTF-8 scenes round-trip (64 bytes: the longest the client sends).
        (
            QrCodeRequest::temporary_str(format!("{}_abc", "扫码登录".repeat(5)), 2_592_000),
            QrScene::Str(format!("{}_abc", "扫码登录".repeat(5))),
            Some(2_592_000),
        ),
    ];
    for (req, scene, expire) in cases {
        let qr = env.client.qrcode_create(token, &req).await.unwrap();
        let name = req.action_name();
        assert_eq!(qr.expire_seconds, expire, "{name}");
        assert!(qr.url.starts_with("http://weixin.qq.com/q/"), "{}", qr.url);
        assert!(qr.ticket.ends_with('='), "{}", qr.ticket);
        // The mock recorded exactly what the client asked for.
        let issued = m.qr_ticket(&qr.ticket).expect("a live ticket");
        assert_eq!(issued.action_name, name);
        assert_eq!(issued.scene, scene, "{name}");
        assert_eq!(issued.appid, oa.appid);
        assert_eq!(issued.url, qr.url);
        assert_eq!(issued.expires_at.is_none(), req.is_permanent(), "{name}");
        assert_eq!(
            m.ticket_for_url(&qr.url).as_deref(),
            Some(qr.ticket.as_str())
        );
        // And the image is there.
        let res = env
            .http
            .get(env.client.showqrcode_url(&qr.ticket))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
    }

    // A temporary code dies on time; a permanent one does not.
    let temp = env
        .client
        .qrcode_create(token, &QrCodeRequest::temporary_str("short", 60))
        .await
        .unwrap();
    let perm = env
        .client
        .qrcode_create(token, &QrCodeRequest::permanent_str("forever"))
        .await
        .unwrap();
    m.advance(Duration::from_secs(61));
    assert!(m.qr_ticket(&temp.ticket).is_none());
    assert!(m.qr_ticket(&perm.ticket).is_some());
    assert_eq!(m.calls("cgi-bin/qrcode/create"), 7);
}

#[tokio::test]
async fn qrcode_create_errors() {
    let env = Env::start().await;
    let m = &env.mock;
    let qr = QrCodeRequest::temporary_str("x", 60);

    // §6.1: needs an Official Account; a mini program's global token gets 48001.
    let mini = m.mini_program();
    let mini_token = env
        .client
        .stable_token(&mini.appid, &secret(mini), false)
        .await
        .unwrap();
    let err = env
        .client
        .qrcode_create(&mini_token.access_token, &qr)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "cgi-bin/qrcode/create",
        48001,
        ErrorKind::Configuration,
    );

    // A token WeChat never issued.
    let err = env
        .client
        .qrcode_create(&Secret::new("86_garbage"), &qr)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "cgi-bin/qrcode/create",
        40001,
        ErrorKind::TokenInvalid,
    );

    // A user token is no global token.
    let user = env.website_token("alice").await;
    let err = env
        .client
        .qrcode_create(&user.access_token, &qr)
        .await
        .unwrap_err();
    assert_api(
        &err,
        "cgi-bin/qrcode/create",
        40001,
        ErrorKind::TokenInvalid,
    );
    assert_eq!(m.calls("cgi-bin/qrcode/create"), 3, "none retried");

    // An invalid request never reaches WeChat: a permanent scene over 100000, a scene_str
    // over 64 bytes (22 CJK characters are 66 bytes; the client counts bytes, the stricter
    // reading of §6.1's "length 1..64").
    let global = env.oa_global().await;
    for req in [
        QrCodeRequest::permanent_int(100_001),
        QrCodeRequest::temporary_str("扫".repeat(22), 60),
        QrCodeRequest::temporary_str("login", 2_592_001),
    ] {
        let err = env
            .client
            .qrcode_create(&global.access_token, &req)
            .await
            .unwrap_err();
        assert!(matches!(err, WechatError::InvalidRequest(_)), "{err:?}");
    }
    assert_eq!(m.calls("cgi-bin/qrcode/create"), 3);
}

#[tokio::test]
async fn user_info_follower_and_non_follower() {
    let env = Env::start().await;
    let m = &env.mock;
    let oa = m.official_account();
    let alice = env.alice();
    let bob = m.user("bob").unwrap();
    m.set_subscribed("alice", true).unwrap();
    let global = env.oa_global().await;

    let info = env
        .client
        .user_info(
            &global.access_token,
            &alice.openid_for(&oa.appid),
            Lang::ZhCn,
        )
        .await
        .unwrap();
    assert!(info.subscribe);
    assert_eq!(info.openid, alice.openid_for(&oa.appid));
    assert_eq!(info.unionid.as_deref(), Some(alice.unionid.as_str()));
    // §2.5: since 2021-12-27 no nickname or avatar here.
    assert_eq!(info.nickname, "");
    assert_eq!(info.headimgurl, "");
    assert!(info.subscribe_time > 0);

    let info = env
        .client
        .user_info(&global.access_token, &bob.openid_for(&oa.appid), Lang::En)
        .await
        .unwrap();
    assert!(!info.subscribe);
    assert_eq!(info.openid, bob.openid_for(&oa.appid));

    // Alice's website openid is not an openid of this Official Account.
    let err = env
        .client
        .user_info(
            &global.access_token,
            &alice.openid_for(&m.website().appid),
            Lang::ZhCn,
        )
        .await
        .unwrap_err();
    assert_api(&err, "cgi-bin/user/info", 40003, ErrorKind::InvalidRequest);
    let err = env
        .client
        .user_info(
            &Secret::new("86_garbage"),
            &alice.openid_for(&oa.appid),
            Lang::ZhCn,
        )
        .await
        .unwrap_err();
    assert_api(&err, "cgi-bin/user/info", 40001, ErrorKind::TokenInvalid);
    assert_eq!(m.calls("cgi-bin/user/info"), 4);
}

// ---------------------------------------------------------------------------------------
// Retries (`-1`, HTTP 5xx) and timeouts
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn errcode_minus_one_is_retried_until_success() {
    let env = Env::start().await;
    let token = env.website_token("alice").await;
    env.mock.inject("sns/userinfo", Fault::Errcode(-1), 2);
    let me = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(me.openid, token.openid);
    assert_eq!(env.mock.calls("sns/userinfo"), 3);
}

#[tokio::test]
async fn errcode_minus_one_three_times_gives_up_after_three_calls() {
    let env = Env::start().await;
    let token = env.website_token("alice").await;
    env.mock.inject("sns/userinfo", Fault::Errcode(-1), 3);
    let err = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap_err();
    assert_api(&err, "sns/userinfo", -1, ErrorKind::Retryable);
    assert_eq!(env.mock.calls("sns/userinfo"), 3, "1 attempt + 2 retries");
    // The fault queue is spent: the next call succeeds at once.
    env.client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(env.mock.calls("sns/userinfo"), 4);
}

#[tokio::test]
async fn http_503_is_retried_the_same_way() {
    let env = Env::start().await;
    let token = env.website_token("alice").await;
    env.mock.inject("sns/userinfo", Fault::HttpStatus(503), 2);
    env.client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(env.mock.calls("sns/userinfo"), 3);

    env.mock.inject("sns/userinfo", Fault::HttpStatus(503), 3);
    let err = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WechatError::Http {
                endpoint: "sns/userinfo",
                status: 503
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Retryable);
    assert_eq!(err.errcode(), None);
    assert!(!err.hint().is_empty());
    assert_eq!(env.mock.calls("sns/userinfo"), 6);

    // A 4xx is no temporary failure: one call.
    env.mock.inject("sns/userinfo", Fault::HttpStatus(404), 1);
    let err = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WechatError::Http { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Other);
    assert_eq!(env.mock.calls("sns/userinfo"), 7);
}

#[tokio::test]
async fn code_exchanges_are_retried_when_wechat_said_it_failed() {
    let env = Env::start().await;
    let m = &env.mock;
    let alice = env.alice();

    // `-1` and a 5xx mean WeChat did not act: retrying the same code is safe, and the code
    // is still good.
    let code = env.website_code("alice").await;
    m.inject("sns/oauth2/access_token", Fault::Errcode(-1), 1);
    m.inject("sns/oauth2/access_token", Fault::HttpStatus(502), 1);
    let token = env.exchange(m.website(), &code).await.unwrap();
    assert_eq!(token.openid, alice.openid_for(&m.website().appid));
    assert_eq!(m.calls("sns/oauth2/access_token"), 3);

    let mini = m.mini_program();
    m.inject("sns/jscode2session", Fault::HttpStatus(503), 1);
    m.inject("sns/jscode2session", Fault::Errcode(-1), 1);
    let session = env
        .client
        .jscode2session(&mini.appid, &secret(mini), &env.js_code("alice"))
        .await
        .unwrap();
    assert_eq!(session.openid, alice.openid_for(&mini.appid));
    assert_eq!(m.calls("sns/jscode2session"), 3);

    let global = env.oa_global().await;
    m.inject("cgi-bin/qrcode/create", Fault::Errcode(-1), 1);
    env.client
        .qrcode_create(&global.access_token, &QrCodeRequest::temporary_str("r", 60))
        .await
        .unwrap();
    assert_eq!(m.calls("cgi-bin/qrcode/create"), 2);

    // Every other call retries `-1` too.
    let oa = m.official_account();
    for endpoint in [
        "sns/oauth2/refresh_token",
        "sns/auth",
        "cgi-bin/token",
        "cgi-bin/stable_token",
        "cgi-bin/user/info",
    ] {
        m.inject(endpoint, Fault::Errcode(-1), 1);
    }
    env.client
        .oauth2_refresh_token(&m.website().appid, &token.refresh_token)
        .await
        .unwrap();
    env.client
        .sns_auth(&token.access_token, &token.openid)
        .await
        .unwrap();
    env.client.token(&oa.appid, &secret(oa)).await.unwrap();
    env.client
        .stable_token(&oa.appid, &secret(oa), false)
        .await
        .unwrap();
    env.client
        .user_info(
            &global.access_token,
            &alice.openid_for(&oa.appid),
            Lang::ZhCn,
        )
        .await
        .unwrap();
    assert_eq!(m.calls("sns/oauth2/refresh_token"), 2);
    assert_eq!(m.calls("sns/auth"), 2);
    assert_eq!(m.calls("cgi-bin/token"), 2);
    assert_eq!(m.calls("cgi-bin/stable_token"), 3, "1 in oa_global + 2");
    assert_eq!(m.calls("cgi-bin/user/info"), 2);
}

/// Longer than the impatient client's 300 ms.
const SLOW: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn timed_out_code_exchange_is_not_retried() {
    let env = Env::start().await;
    let client = env.impatient_client();
    let site = env.mock.website();
    let code = env.website_code("alice").await;
    env.mock
        .inject("sns/oauth2/access_token", Fault::Delay(SLOW), 3);

    let started = Instant::now();
    let err = client
        .oauth2_access_token(&site.appid, &secret(site), &code)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_timeout(&err, "sns/oauth2/access_token");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    // WeChat may have used the code: a second exchange would only earn 40163.
    assert_eq!(env.mock.calls("sns/oauth2/access_token"), 1);
}

#[tokio::test]
async fn timed_out_userinfo_is_retried() {
    let env = Env::start().await;
    let client = env.impatient_client();
    let token = env.website_token("alice").await;

    // Every attempt too slow: three attempts, then the timeout.
    env.mock.inject("sns/userinfo", Fault::Delay(SLOW), 3);
    let started = Instant::now();
    let err = client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_timeout(&err, "sns/userinfo");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(900),
        "3 × 300 ms: {elapsed:?}"
    );
    assert_eq!(env.mock.calls("sns/userinfo"), 3);

    // One slow attempt: the retry answers.
    env.mock.inject("sns/userinfo", Fault::Delay(SLOW), 1);
    let me = client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(me.openid, token.openid);
    assert_eq!(env.mock.calls("sns/userinfo"), 5);

    // A delay inside the timeout is just a slow answer.
    env.mock
        .inject("sns/userinfo", Fault::Delay(Duration::from_millis(50)), 1);
    client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(env.mock.calls("sns/userinfo"), 6);
}

#[tokio::test]
async fn timeouts_are_retried_only_for_calls_safe_to_repeat() {
    let env = Env::start().await;
    let m = &env.mock;
    let client = env.impatient_client();
    let oa = m.official_account();
    let mini = m.mini_program();
    let global = env.oa_global().await;
    let alice = env.alice();

    // Consuming or creating: one attempt only.
    m.inject("sns/jscode2session", Fault::Delay(SLOW), 3);
    let err = client
        .jscode2session(&mini.appid, &secret(mini), &env.js_code("alice"))
        .await
        .unwrap_err();
    assert_timeout(&err, "sns/jscode2session");
    assert_eq!(m.calls("sns/jscode2session"), 1);

    m.inject("cgi-bin/qrcode/create", Fault::Delay(SLOW), 3);
    let err = client
        .qrcode_create(&global.access_token, &QrCodeRequest::temporary_str("t", 60))
        .await
        .unwrap_err();
    assert_timeout(&err, "cgi-bin/qrcode/create");
    assert_eq!(m.calls("cgi-bin/qrcode/create"), 1);

    let before = m.calls("cgi-bin/stable_token");
    m.inject("cgi-bin/stable_token", Fault::Delay(SLOW), 3);
    let err = client
        .stable_token(&oa.appid, &secret(oa), true)
        .await
        .unwrap_err();
    assert_timeout(&err, "cgi-bin/stable_token");
    assert_eq!(m.calls("cgi-bin/stable_token"), before + 1);
    m.clear_faults();

    // Safe to repeat: a slow first attempt is retried.
    let safe: [(&str, u64); 5] = [
        ("cgi-bin/stable_token", before + 3),
        ("cgi-bin/token", 2),
        ("sns/auth", 2),
        ("sns/oauth2/refresh_token", 2),
        ("cgi-bin/user/info", 2),
    ];
    let user = env.website_token("alice").await;
    for (endpoint, _) in safe {
        m.inject(endpoint, Fault::Delay(SLOW), 1);
    }
    client
        .stable_token(&oa.appid, &secret(oa), false)
        .await
        .unwrap();
    client.token(&oa.appid, &secret(oa)).await.unwrap();
    client
        .sns_auth(&user.access_token, &user.openid)
        .await
        .unwrap();
    client
        .oauth2_refresh_token(&m.website().appid, &user.refresh_token)
        .await
        .unwrap();
    client
        .user_info(
            &global.access_token,
            &alice.openid_for(&oa.appid),
            Lang::ZhCn,
        )
        .await
        .unwrap();
    for (endpoint, calls) in safe {
        assert_eq!(m.calls(endpoint), calls, "{endpoint}");
    }
}

// ---------------------------------------------------------------------------------------
// `text/plain` answers (§0)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn text_plain_fault_answers_parse_on_every_endpoint() {
    let env = Env::start().await;
    let m = &env.mock;
    let oa = m.official_account();
    let mini = m.mini_program();
    let site = m.website();
    let alice = env.alice();

    /// Queues a `text/plain` answer for the client's call and one for a raw request that
    /// proves the label was really applied at that moment.
    async fn proved(env: &Env, endpoint: &str, post: bool) {
        env.mock.inject(endpoint, Fault::TextPlain, 2);
        // Consumes the first: the raw request goes before the client call, so a fault that
        // did not fire would show here.
        let ct = env.content_type(endpoint, post).await;
        assert!(ct.starts_with("text/plain"), "{endpoint}: {ct}");
    }

    let code = env.website_code("alice").await;
    proved(&env, "sns/oauth2/access_token", false).await;
    let token = env.exchange(site, &code).await.unwrap();
    assert_eq!(token.openid, alice.openid_for(&site.appid));
    // An error body labelled text/plain parses too.
    proved(&env, "sns/oauth2/access_token", false).await;
    let err = env.exchange(site, &code).await.unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40163,
        ErrorKind::LoginAgain,
    );

    proved(&env, "sns/oauth2/refresh_token", false).await;
    let renewed = env
        .client
        .oauth2_refresh_token(&site.appid, &token.refresh_token)
        .await
        .unwrap();
    assert_eq!(renewed.access_token, token.access_token);

    proved(&env, "sns/userinfo", false).await;
    let me = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::ZhCn)
        .await
        .unwrap();
    assert_eq!(me.nickname, alice.nickname);

    proved(&env, "sns/auth", false).await;
    env.client
        .sns_auth(&token.access_token, &token.openid)
        .await
        .unwrap();

    proved(&env, "sns/jscode2session", false).await;
    let session = env
        .client
        .jscode2session(&mini.appid, &secret(mini), &env.js_code("alice"))
        .await
        .unwrap();
    assert_eq!(session.openid, alice.openid_for(&mini.appid));

    proved(&env, "cgi-bin/token", false).await;
    let basic = env.client.token(&oa.appid, &secret(oa)).await.unwrap();
    assert_eq!(basic.expires_in, 7200);

    proved(&env, "cgi-bin/stable_token", true).await;
    let global = env
        .client
        .stable_token(&oa.appid, &secret(oa), false)
        .await
        .unwrap();

    proved(&env, "cgi-bin/qrcode/create", true).await;
    let qr = env
        .client
        .qrcode_create(
            &global.access_token,
            &QrCodeRequest::temporary_str("tp", 60),
        )
        .await
        .unwrap();
    assert!(m.qr_ticket(&qr.ticket).is_some());

    m.set_subscribed("alice", true).unwrap();
    proved(&env, "cgi-bin/user/info", false).await;
    let info = env
        .client
        .user_info(
            &global.access_token,
            &alice.openid_for(&oa.appid),
            Lang::ZhCn,
        )
        .await
        .unwrap();
    assert!(info.subscribe);
}

#[tokio::test]
async fn sticky_text_plain_works_end_to_end() {
    let env = Env::start().await;
    let m = &env.mock;
    let oa = m.official_account();
    let mini = m.mini_program();
    let site = m.website();
    let alice = env.alice();
    m.set_text_plain(true);

    for (path, post) in [
        ("sns/oauth2/access_token", false),
        ("sns/oauth2/refresh_token", false),
        ("sns/userinfo", false),
        ("sns/auth", false),
        ("sns/jscode2session", false),
        ("cgi-bin/token", false),
        ("cgi-bin/stable_token", true),
        ("cgi-bin/qrcode/create", true),
        ("cgi-bin/user/info", false),
    ] {
        let ct = env.content_type(path, post).await;
        assert!(ct.starts_with("text/plain"), "{path}: {ct}");
    }

    let token = env.website_token("alice").await;
    assert_eq!(token.unionid.as_deref(), Some(alice.unionid.as_str()));
    let err = env
        .exchange(site, "00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert_api(
        &err,
        "sns/oauth2/access_token",
        40029,
        ErrorKind::LoginAgain,
    );
    env.client
        .oauth2_refresh_token(&site.appid, &token.refresh_token)
        .await
        .unwrap();
    let me = env
        .client
        .userinfo(&token.access_token, &token.openid, Lang::En)
        .await
        .unwrap();
    assert_eq!(me.nickname, alice.nickname);
    env.client
        .sns_auth(&token.access_token, &token.openid)
        .await
        .unwrap();
    env.client
        .jscode2session(&mini.appid, &secret(mini), &env.js_code("alice"))
        .await
        .unwrap();
    env.client.token(&oa.appid, &secret(oa)).await.unwrap();
    let global = env
        .client
        .stable_token(&oa.appid, &secret(oa), false)
        .await
        .unwrap();
    env.client
        .qrcode_create(&global.access_token, &QrCodeRequest::permanent_str("tp"))
        .await
        .unwrap();
    let info = env
        .client
        .user_info(
            &global.access_token,
            &alice.openid_for(&oa.appid),
            Lang::ZhCn,
        )
        .await
        .unwrap();
    assert!(!info.subscribe);

    // Switched off, JSON is labelled JSON again.
    m.set_text_plain(false);
    let ct = env.content_type("sns/auth", false).await;
    assert!(ct.starts_with("application/json"), "{ct}");
}

// ---------------------------------------------------------------------------------------
// Mini program server APIs: phone number, checksession, getwxacodeunlimit (§17, §18)
// ---------------------------------------------------------------------------------------

impl Env {
    /// A global token of the primary mini program from `cgi-bin/token`.
    async fn mini_global(&self) -> GlobalToken {
        let mini = self.mock.mini_program();
        self.client
            .token(&mini.appid, &secret(mini))
            .await
            .expect("cgi-bin/token issues mini program tokens")
    }

    /// What `<button open-type="getPhoneNumber">` hands the page for `user`.
    fn phone_code(&self, user: &str) -> String {
        self.mock
            .phone_code(&self.mock.mini_program().appid, user)
            .unwrap()
    }
}

const PHONE: &str = "wxa/business/getuserphonenumber";
const CHECKSESSION: &str = "wxa/checksession";
const WXACODE: &str = "wxa/getwxacodeunlimit";

#[tokio::test]
async fn phone_number_is_the_fixture_phone_of_the_user() {
    let env = Env::start().await;
    let mini = env.mock.mini_program().clone();
    let alice = env.alice();
    let global = env.mini_global().await;
    let openid = alice.openid_for(&mini.appid);
    let phone = env
        .client
        .phone_number(
            &global.access_token,
            &env.phone_code("alice"),
            Some(&openid),
        )
        .await
        .unwrap();
    assert_eq!(phone.phone_number, alice.phone);
    assert_eq!(phone.pure_phone_number, alice.phone);
    // The mock sends "86" as a string (§17.1); the client keeps text either way.
    assert_eq!(phone.country_code, "86");
    assert_eq!(phone.watermark_appid, mini.appid);
    let now = env
        .mock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(phone.watermark_timestamp, now);
    // Without openid too, and the stable token works as well.
    let stable = env
        .client
        .stable_token(&mini.appid, &secret(&mini), false)
        .await
        .unwrap();
    let bob = env
        .client
        .phone_number(&stable.access_token, &env.phone_code("bob"), None)
        .await
        .unwrap();
    assert_eq!(bob.phone_number, env.mock.user("bob").unwrap().phone);
    assert_eq!(env.mock.calls(PHONE), 2);
}

#[tokio::test]
async fn phone_number_errors() {
    let env = Env::start().await;
    let global = env.mini_global().await;
    let token = &global.access_token;
    let code = env.phone_code("alice");

    // §17.1: another app's token → 40013 (and the code is not spent).
    let oa = env.oa_global().await;
    let err = env
        .client
        .phone_number(&oa.access_token, &code, None)
        .await
        .unwrap_err();
    assert_api(&err, PHONE, 40013, ErrorKind::Configuration);

    // Single use: the second exchange is 40029.
    env.client.phone_number(token, &code, None).await.unwrap();
    let err = env
        .client
        .phone_number(token, &code, None)
        .await
        .unwrap_err();
    assert_api(&err, PHONE, 40029, ErrorKind::LoginAgain);

    // A wx.login code is no phone code (the classic 40029); nor is a code 5 minutes old.
    let err = env
        .client
        .phone_number(token, &env.js_code("alice"), None)
        .await
        .unwrap_err();
    assert_api(&err, PHONE, 40029, ErrorKind::LoginAgain);
    let old = env.phone_code("bob");
    env.mock.advance(Duration::from_secs(301));
    let global = env.mini_global().await;
    let err = env
        .client
        .phone_number(&global.access_token, &old, None)
        .await
        .unwrap_err();
    assert_api(&err, PHONE, 40029, ErrorKind::LoginAgain);

    // A token that is not one: 40001, a stale token.
    let err = env
        .client
        .phone_number(&Secret::new("86_nope"), &env.phone_code("bob"), None)
        .await
        .unwrap_err();
    assert_api(&err, PHONE, 40001, ErrorKind::TokenInvalid);
}

#[tokio::test]
async fn phone_number_retries_busy_but_not_a_timeout() {
    let env = Env::start().await;
    let global = env.mini_global().await;
    let bob = env.mock.user("bob").unwrap();

    // -1: WeChat did not act, the same code is sent again and works.
    env.mock.inject(PHONE, Fault::Errcode(-1), 1);
    let phone = env
        .client
        .phone_number(&global.access_token, &env.phone_code("bob"), None)
        .await
        .unwrap();
    assert_eq!(phone.phone_number, bob.phone);
    assert_eq!(env.mock.calls(PHONE), 2);

    // A timeout after sending: the code may be spent, so no second attempt.
    env.mock.reset_calls();
    env.mock
        .inject(PHONE, Fault::Delay(Duration::from_millis(1500)), 1);
    let err = env
        .impatient_client()
        .phone_number(&global.access_token, &env.phone_code("bob"), None)
        .await
        .unwrap_err();
    assert_timeout(&err, PHONE);
    assert_eq!(env.mock.calls(PHONE), 1);
}

#[tokio::test]
async fn check_session_accepts_the_current_key_and_refuses_a_stale_one() {
    let env = Env::start().await;
    let mini = env.mock.mini_program().clone();
    let global = env.mini_global().await;
    let first = env
        .client
        .jscode2session(&mini.appid, &secret(&mini), &env.js_code("alice"))
        .await
        .unwrap();
    env.client
        .check_session(&global.access_token, &first.openid, &first.session_key)
        .await
        .expect("the key jscode2session just gave is current");

    // A second wx.login + jscode2session replaces the key (§17.2).
    let second = env
        .client
        .jscode2session(&mini.appid, &secret(&mini), &env.js_code("alice"))
        .await
        .unwrap();
    assert_ne!(second.session_key, first.session_key);
    let err = env
        .client
        .check_session(&global.access_token, &first.openid, &first.session_key)
        .await
        .unwrap_err();
    assert_api(&err, CHECKSESSION, 87009, ErrorKind::LoginAgain);
    env.client
        .check_session(&global.access_token, &second.openid, &second.session_key)
        .await
        .unwrap();

    // Another user's openid with this key, and a key for nobody: 87009 as well.
    let bob = env.mock.user("bob").unwrap().openid_for(&mini.appid);
    let err = env
        .client
        .check_session(&global.access_token, &bob, &second.session_key)
        .await
        .unwrap_err();
    assert_api(&err, CHECKSESSION, 87009, ErrorKind::LoginAgain);
    assert_eq!(env.mock.calls(CHECKSESSION), 4);
}

#[tokio::test]
async fn wxa_code_is_a_png_whatever_the_header_says() {
    let env = Env::start().await;
    let global = env.mini_global().await;
    // The mock labels its PNG image/jpeg, as WeChat does (§18.2).
    let raw = env
        .http
        .post(format!("{}/{WXACODE}", env.mock.api_base()))
        .query(&[("access_token", global.access_token.expose())])
        .json(&serde_json::json!({"scene": "t3f9a2c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-type"], "image/jpeg");

    let req = WxaCodeRequest::new("t3f9a2c")
        .with_page("pages/login/confirm")
        .with_env_version("develop")
        .with_check_path(false)
        .with_width(280);
    let code = env
        .client
        .wxa_code_unlimit(&global.access_token, &req)
        .await
        .unwrap();
    assert_eq!(code.content_type, "image/png");
    assert!(code.bytes.starts_with(PNG_MAGIC));
    assert!(code.bytes.len() > 100);
    // Busy once: retried (codes are unlimited and never expire, so repeating is harmless).
    env.mock.inject(WXACODE, Fault::Errcode(-1), 1);
    let again = env
        .client
        .wxa_code_unlimit(&global.access_token, &WxaCodeRequest::new("t3f9a2c"))
        .await
        .unwrap();
    assert_eq!(again.content_type, "image/png");
    assert_eq!(env.mock.calls(WXACODE), 4);
}

#[tokio::test]
async fn wxa_code_errors() {
    let env = Env::start().await;
    let global = env.mini_global().await;
    let token = &global.access_token;
    let call = |req: WxaCodeRequest| {
        let client = env.client.clone();
        let token = token.clone();
        async move { client.wxa_code_unlimit(&token, &req).await.unwrap_err() }
    };
    // §18.1: at most 32 characters; only [0-9A-Za-z!#$&'()*+,/:;=?@-._~].
    let err = call(WxaCodeRequest::new("a".repeat(33))).await;
    assert_api(&err, WXACODE, 40169, ErrorKind::InvalidRequest);
    let err = call(WxaCodeRequest::new("")).await;
    assert_api(&err, WXACODE, 40169, ErrorKind::InvalidRequest);
    let err = call(WxaCodeRequest::new("50%off")).await;
    assert_api(&err, WXACODE, 40129, ErrorKind::InvalidRequest);
    let err = call(WxaCodeRequest::new("t1").with_page("/pages/index/index")).await;
    assert_api(&err, WXACODE, 41030, ErrorKind::Configuration);
    let err = call(WxaCodeRequest::new("t1").with_env_version("")).await;
    assert_api(&err, WXACODE, 40097, ErrorKind::Configuration);
    // 32 characters of every allowed kind is fine.
    env.client
        .wxa_code_unlimit(
            token,
            &WxaCodeRequest::new("Az09!#$&'()*+,/:;=?@-._~Az09Az09"),
        )
        .await
        .unwrap();

    // An Official Account's token: 48001 (§18.1).
    let oa = env.oa_global().await;
    let err = env
        .client
        .wxa_code_unlimit(&oa.access_token, &WxaCodeRequest::new("t1"))
        .await
        .unwrap_err();
    assert_api(&err, WXACODE, 48001, ErrorKind::Configuration);
}
