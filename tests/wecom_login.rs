//! WeCom (企业微信) login end to end (issue 27): the real layer in a real axum server, the mock
//! WeCom over real sockets. Members and non-members through the self-built app and the
//! third-party suite, on the desktop (`wwlogin/sso/login`) and inside the WeCom client
//! (`wxwork/` UA → `connect/oauth2/authorize`); `snsapi_privateinfo`'s fields; the corp token
//! fetched once for three logins; two instances sharing one `suite_ticket` and one suite
//! token; a login before any ticket failing at once; replayed codes and bad states; one test
//! per errcode row (mock faults); the command callback's attacks.
//!
//! Honours `WECHAT_TEST_STORE=redis` / `WECHAT_REDIS_URL` (and `WECHAT_REDIS_CA_FILE`) like
//! the other flow suites: CI runs it on memory, Redis, TLS Redis and a Redis Cluster.

mod common;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::get};
use common::{SECRET, browser, location, wechat_answers};
use reqwest::Client;
use serde_json::Value;
use wechat_auth::{
    Identity, WechatAuthLayer, WechatConfig, WechatConfigBuilder, WecomCorp, WecomScope,
    WecomSuite,
    mock::{Fault, MockWechat},
    store::{MemoryStore, Store},
};

/// The WeCom client's User-Agent on a phone (protocol §20.7).
const WXWORK_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 10_2 like Mac OS X) AppleWebKit/602.3.12 (KHTML, like Gecko) Mobile/14C92 wxwork/2.4.2 MicroMessenger/6.3.22 Language/zh";

struct App {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The store of this run: memory, or Redis (`WECHAT_TEST_STORE=redis`) under a prefix of its
/// own; one value shared by the instances of a test.
fn test_store() -> Arc<dyn Store> {
    if std::env::var("WECHAT_TEST_STORE").as_deref() != Ok("redis") {
        return Arc::new(MemoryStore::new());
    }
    let url =
        std::env::var("WECHAT_REDIS_URL").expect("WECHAT_TEST_STORE=redis needs WECHAT_REDIS_URL");
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = format!(
        "wecomtest-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut store = wechat_auth::store::RedisStore::connect_lazy(&url)
        .expect("WECHAT_REDIS_URL is usable")
        .with_prefix(prefix);
    if let Some(ca) = std::env::var_os("WECHAT_REDIS_CA_FILE") {
        store = store
            .with_ca_file(ca)
            .expect("WECHAT_REDIS_CA_FILE is usable");
    }
    Arc::new(store)
}

/// A WeCom-only site: the mock's corp app (with `scope`) and its suite.
fn config(mock: &MockWechat, scope: WecomScope, store: Arc<dyn Store>) -> WechatConfigBuilder {
    let corp = mock.wecom_corp();
    let suite = mock.wecom_suite().expect("the mock has a suite");
    WechatConfig::builder()
        .with_session_secret(SECRET)
        .with_wechat_bases(mock.url(), mock.url(), mock.url())
        .with_wecom_bases(mock.url(), mock.url())
        .with_wecom_corp(
            WecomCorp::new(&corp.corp_id, &corp.agent_id, corp.secret.clone()).with_scope(scope),
        )
        .with_wecom_suite(
            WecomSuite::new(
                &suite.suite_id,
                suite.suite_secret.clone(),
                suite.token.clone(),
                suite.encoding_aes_key.clone(),
            )
            .with_scope(scope),
        )
        .with_public_path("/")
        .with_http_timeout(Duration::from_secs(2))
        .with_store(store)
}

/// Serves `builder` on a loopback port, with `/whoami` answering the signed-in identity.
async fn start(builder: WechatConfigBuilder) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = builder.with_public_url(url.clone()).build().unwrap();
    let app = Router::new()
        .route("/whoami", get(|id: Identity| async move { Json(id) }))
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App { url, task }
}

async fn site(mock: &MockWechat, scope: WecomScope) -> App {
    start(config(mock, scope, test_store())).await
}

fn wxwork_browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(WXWORK_UA)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `GET login{query}`: the WeCom page it redirects to (fragment removed).
async fn start_login(app: &App, b: &Client, query: &str) -> String {
    let res = b
        .get(format!("{}/auth/wechat/login{query}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "login start");
    location(&res).split('#').next().unwrap().to_owned()
}

/// The whole login of `user` through `query`; the callback's response.
async fn login(app: &App, b: &Client, query: &str, user: &str) -> reqwest::Response {
    let wecom = start_login(app, b, query).await;
    let callback = wechat_answers(b, &wecom, user, "approve").await;
    b.get(callback).send().await.unwrap()
}

/// Who `b` is signed in as on `app` (`None`: nobody).
async fn whoami(app: &App, b: &Client) -> Option<Value> {
    let res = b
        .get(format!("{}/whoami", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    (res.status() == 200).then_some(res.json().await.unwrap())
}

/// Logs `user` in through `query` and answers who the site says they are.
async fn logged_in(app: &App, b: &Client, query: &str, user: &str) -> Value {
    let res = login(app, b, query, user).await;
    let status = res.status();
    let to = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    assert_eq!(
        status,
        302,
        "{user} via {query}: {}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(to.as_deref(), Some("/whoami"));
    whoami(app, b).await.expect("signed in")
}

/// Points the suite's command callback at `app` and pushes a ticket now.
async fn push_ticket(mock: &MockWechat, app: &App) {
    let suite = mock.wecom_suite().unwrap().suite_id.clone();
    mock.set_push_url(&suite, Some(&format!("{}/auth/wechat/wecom/push", app.url)))
        .unwrap();
    let report = mock.push_suite_ticket(&suite).await.unwrap();
    assert!(report.acknowledged, "{report:?}");
    assert_eq!(report.deliveries, 1, "{report:?}");
}

const CORP: &str = "ww6000000000000006";
const SUITE: &str = "ww8000000000000008";

#[tokio::test]
async fn members_and_non_members_log_in_through_the_self_built_app_on_the_desktop() {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    let b = browser();
    let page = start_login(&app, &b, "?channel=wecom&return_to=/whoami").await;
    assert!(
        page.starts_with(&format!(
            "{}/wwlogin/sso/login?login_type=CorpApp&appid={CORP}&agentid=1000002&redirect_uri=",
            mock.url()
        )),
        "{page}"
    );
    let me = logged_in(&app, &b, "?channel=wecom&return_to=/whoami", "alice").await;
    assert_eq!(me["provider"], "wecom");
    assert_eq!(me["channel"], "wecom");
    assert_eq!(me["corp_id"], CORP);
    assert_eq!(me["user_id"], "LiAiLi");
    assert!(me.get("openid").is_none(), "{me}");

    let guest = browser();
    let me = logged_in(&app, &guest, "?channel=wecom&return_to=/whoami", "carol").await;
    assert_eq!(me["corp_id"], CORP);
    assert!(me.get("user_id").is_none(), "{me}");
    assert!(me["openid"].as_str().is_some_and(|o| !o.is_empty()), "{me}");
}

#[tokio::test]
async fn inside_the_wecom_client_the_in_app_authorization_is_picked() {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    let b = wxwork_browser();
    // No channel=: the wxwork/ UA picks WeCom, inside the client.
    let page = start_login(&app, &b, "?return_to=/whoami").await;
    assert!(
        page.starts_with(&format!(
            "{}/connect/oauth2/authorize?appid={CORP}&redirect_uri=",
            mock.url()
        )),
        "{page}"
    );
    assert!(
        page.contains("scope=snsapi_base") && page.contains("agentid=1000002"),
        "{page}"
    );
    let me = logged_in(&app, &b, "?return_to=/whoami", "bob").await;
    assert_eq!(me["user_id"], "BobZhang");
    assert!(
        me.get("gender").is_none(),
        "snsapi_base reads no detail: {me}"
    );
    let guest = wxwork_browser();
    let me = logged_in(&app, &guest, "?return_to=/whoami", "carol").await;
    assert!(me["openid"].is_string(), "{me}");
}

#[tokio::test]
async fn snsapi_privateinfo_reads_the_members_detail_for_on_login() {
    let mock = MockWechat::start().await.unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let hook_seen = seen.clone();
    let builder = config(&mock, WecomScope::PrivateInfo, test_store()).with_on_login_identity(
        move |id: Identity, _signed_in: Option<Identity>| {
            let seen = hook_seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(serde_json::to_value(&id).unwrap());
                Ok::<_, wechat_auth::LoginRefused>(Some(format!("account-of-{}", id.key())))
            }
        },
    );
    let app = start(builder).await;
    let b = wxwork_browser();
    let page = start_login(&app, &b, "?return_to=/whoami").await;
    assert!(page.contains("scope=snsapi_privateinfo"), "{page}");
    let me = logged_in(&app, &b, "?return_to=/whoami", "alice").await;
    assert_eq!(me["user_id"], "LiAiLi");
    assert_eq!(
        me["subject"],
        format!("account-of-wecom:{CORP}:user:LiAiLi")
    );
    assert!(
        me["avatar_url"]
            .as_str()
            .is_some_and(|a| a.starts_with("http")),
        "{me}"
    );
    let detail = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(detail["detail"]["gender"], "female", "{detail}");
    assert!(
        detail["detail"]["email"]
            .as_str()
            .is_some_and(|e| e.contains('@')),
        "{detail}"
    );
    assert_eq!(mock.calls("cgi-bin/auth/getuserdetail"), 1);
}

#[tokio::test]
async fn members_and_non_members_log_in_through_the_suite_on_the_desktop_and_in_app() {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    push_ticket(&mock, &app).await;
    let b = browser();
    let page = start_login(&app, &b, "?channel=wecom&kind=suite&return_to=/whoami").await;
    assert!(
        page.contains(&format!(
            "login_type=ServiceApp&appid={SUITE}&redirect_uri="
        )),
        "{page}"
    );
    let me = logged_in(
        &app,
        &b,
        "?channel=wecom&kind=suite&return_to=/whoami",
        "alice",
    )
    .await;
    assert_eq!(
        (me["corp_id"].as_str(), me["user_id"].as_str()),
        (Some(CORP), Some("LiAiLi"))
    );
    let guest = browser();
    let me = logged_in(
        &app,
        &guest,
        "?channel=wecom&kind=suite&return_to=/whoami",
        "carol",
    )
    .await;
    assert!(
        me["openid"].is_string() && me.get("user_id").is_none(),
        "{me}"
    );

    let phone = wxwork_browser();
    let page = start_login(&app, &phone, "?kind=suite&return_to=/whoami").await;
    assert!(
        page.contains(&format!("/connect/oauth2/authorize?appid={SUITE}&"))
            && !page.contains("agentid="),
        "{page}"
    );
    let me = logged_in(&app, &phone, "?kind=suite&return_to=/whoami", "bob").await;
    assert_eq!(me["user_id"], "BobZhang");
    assert_eq!(mock.calls("cgi-bin/service/get_suite_token"), 1);
    assert_eq!(mock.calls("cgi-bin/service/auth/getuserinfo3rd"), 3);
}

#[tokio::test]
async fn three_logins_fetch_the_corp_token_once() {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    for user in ["alice", "bob", "carol"] {
        logged_in(&app, &browser(), "?channel=wecom&return_to=/whoami", user).await;
    }
    assert_eq!(mock.calls("cgi-bin/gettoken"), 1);
    assert_eq!(mock.calls("cgi-bin/auth/getuserinfo"), 3);
}

#[tokio::test]
async fn two_instances_share_one_suite_ticket_and_one_suite_token() {
    let mock = MockWechat::start().await.unwrap();
    let store = test_store();
    let a = start(config(&mock, WecomScope::Base, store.clone())).await;
    let b = start(config(&mock, WecomScope::Base, store)).await;
    // WeCom pushes the ticket to one instance only.
    push_ticket(&mock, &a).await;
    let me = logged_in(
        &b,
        &browser(),
        "?channel=wecom&kind=suite&return_to=/whoami",
        "alice",
    )
    .await;
    assert_eq!(me["user_id"], "LiAiLi");
    logged_in(
        &a,
        &browser(),
        "?channel=wecom&kind=suite&return_to=/whoami",
        "bob",
    )
    .await;
    logged_in(
        &b,
        &browser(),
        "?channel=wecom&kind=suite&return_to=/whoami",
        "carol",
    )
    .await;
    assert_eq!(mock.calls("cgi-bin/service/get_suite_token"), 1);
    // And the corp token too.
    logged_in(&a, &browser(), "?channel=wecom&return_to=/whoami", "alice").await;
    logged_in(&b, &browser(), "?channel=wecom&return_to=/whoami", "bob").await;
    assert_eq!(mock.calls("cgi-bin/gettoken"), 1);
}

#[tokio::test]
async fn a_suite_login_before_any_ticket_fails_at_once_with_the_typed_error() {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    let b = browser();
    let started = Instant::now();
    let res = login(
        &app,
        &b,
        "?channel=wecom&kind=suite&return_to=/whoami",
        "alice",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2), "never a hang");
    assert_eq!(res.status(), 503);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("no suite_ticket yet: check the command callback URL"),
        "{body}"
    );
    assert_eq!(mock.calls("cgi-bin/service/get_suite_token"), 0);
    assert!(whoami(&app, &b).await.is_none());
}

#[tokio::test]
async fn a_replayed_code_and_a_bad_state_sign_nobody_in() {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    let b = browser();
    let page = start_login(&app, &b, "?channel=wecom&return_to=/whoami").await;
    let callback = wechat_answers(&b, &page, "alice", "approve").await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), 302);
    // The same callback in another browser: its state is not bound there.
    let thief = browser();
    let res = thief.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("This login was not started in this browser")
    );
    assert!(whoami(&app, &thief).await.is_none());
    assert_eq!(
        mock.calls("cgi-bin/auth/getuserinfo"),
        1,
        "never exchanged again"
    );

    // A state the site never issued, in the tagged shape.
    let forged = format!(
        "{}/auth/wechat/callback?code=abc&state=wecom{}",
        app.url,
        "A".repeat(32)
    );
    assert_eq!(browser().get(&forged).send().await.unwrap().status(), 400);
    // Declining on WeCom's page: no session, a way to try again.
    let b = browser();
    let page = start_login(&app, &b, "?channel=wecom&return_to=/whoami").await;
    let declined = wechat_answers(&b, &page, "alice", "deny").await;
    let res = b.get(declined).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("企业微信"));
    assert!(whoami(&app, &b).await.is_none());
    assert_eq!(mock.calls("cgi-bin/auth/getuserinfo"), 1);
}

/// One login of `alice` on a fresh mock with `fault` on `endpoint` once; the callback's
/// status and body.
async fn with_fault(endpoint: &str, errcode: i64, suite: bool) -> (u16, String, MockWechat) {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    if suite {
        push_ticket(&mock, &app).await;
    }
    mock.inject(endpoint, Fault::Errcode(errcode), 1);
    let query = if suite {
        "?channel=wecom&kind=suite&return_to=/whoami"
    } else {
        "?channel=wecom&return_to=/whoami"
    };
    let res = login(&app, &browser(), query, "alice").await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap(), mock)
}

/// Each errcode a login can meet is answered with its status and code.
#[tokio::test]
async fn each_errcode_row_is_answered_with_its_status_and_cause() {
    let rows: &[(&str, i64, bool, u16, &str)] = &[
        (
            "cgi-bin/auth/getuserinfo",
            40029,
            false,
            400,
            "already used or has expired",
        ),
        (
            "cgi-bin/auth/getuserinfo",
            50001,
            false,
            403,
            "trusted domain",
        ),
        ("cgi-bin/gettoken", 60020, false, 403, "trusted IP"),
        ("cgi-bin/gettoken", 40013, false, 403, "CorpID"),
        ("cgi-bin/gettoken", 40001, false, 502, "corpsecret"),
        (
            "cgi-bin/auth/getuserinfo",
            50002,
            false,
            403,
            "visible range",
        ),
        (
            "cgi-bin/auth/getuserinfo",
            60011,
            false,
            403,
            "visible range",
        ),
        ("cgi-bin/auth/getuserinfo", 60111, false, 403, "UserID"),
        ("cgi-bin/auth/getuserinfo", 301002, false, 403, "operate"),
        ("cgi-bin/gettoken", 45009, false, 503, "cache"),
        (
            "cgi-bin/service/auth/getuserinfo3rd",
            41030,
            true,
            403,
            "install",
        ),
        (
            "cgi-bin/service/auth/getuserinfo3rd",
            40029,
            true,
            400,
            "already used or has expired",
        ),
        (
            "cgi-bin/service/get_suite_token",
            40085,
            true,
            503,
            "newest ticket",
        ),
        (
            "cgi-bin/service/get_suite_token",
            40080,
            true,
            403,
            "suite_secret",
        ),
    ];
    for &(endpoint, errcode, suite, status, code) in rows {
        let (got, body, _mock) = with_fault(endpoint, errcode, suite).await;
        assert_eq!(got, status, "{endpoint} {errcode}: {body}");
        assert!(
            body.contains(code),
            "{endpoint} {errcode}: {code} in {body}"
        );
    }
}

/// A refused token (40014, 42001; the suite's 40082, 42009) is fetched again and the call
/// retried once: the login succeeds. `-1` is retried by the client.
#[tokio::test]
async fn refused_tokens_are_fetched_again_and_the_login_succeeds() {
    let rows: &[(&str, i64, bool, &str, u64)] = &[
        (
            "cgi-bin/auth/getuserinfo",
            40014,
            false,
            "cgi-bin/gettoken",
            2,
        ),
        (
            "cgi-bin/auth/getuserinfo",
            42001,
            false,
            "cgi-bin/gettoken",
            2,
        ),
        (
            "cgi-bin/service/auth/getuserinfo3rd",
            40082,
            true,
            "cgi-bin/service/get_suite_token",
            2,
        ),
        (
            "cgi-bin/service/auth/getuserinfo3rd",
            42009,
            true,
            "cgi-bin/service/get_suite_token",
            2,
        ),
        ("cgi-bin/gettoken", -1, false, "cgi-bin/gettoken", 2),
    ];
    for &(endpoint, errcode, suite, token_endpoint, fetches) in rows {
        let (status, body, mock) = with_fault(endpoint, errcode, suite).await;
        assert_eq!(status, 302, "{endpoint} {errcode}: {body}");
        assert_eq!(mock.calls(token_endpoint), fetches, "{endpoint} {errcode}");
    }
}

// ---- the command callback -------------------------------------------------------------

/// The suite's crypto, as WeCom and the site share it.
fn suite_crypto(mock: &MockWechat, receive_id: &str) -> wecom_client::WecomCrypto {
    let s = mock.wecom_suite().unwrap();
    wecom_client::WecomCrypto::new(s.token.as_str(), &s.encoding_aes_key, receive_id).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed, encrypted command callback: the query and the body.
fn sealed(crypto: &wecom_client::WecomCrypto, xml: &str, timestamp: u64) -> (String, String) {
    let encrypt = crypto.encrypt_fresh(xml).unwrap();
    let (ts, nonce) = (timestamp.to_string(), "1372623149".to_owned());
    let sig = crypto.signature(&ts, &nonce, &encrypt);
    let body = format!(
        "<xml><ToUserName><![CDATA[{SUITE}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    );
    (
        format!("msg_signature={sig}&timestamp={ts}&nonce={nonce}"),
        body,
    )
}

fn ticket_xml(ticket: &str, at: u64) -> String {
    format!(
        "<xml><SuiteId><![CDATA[{SUITE}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>{at}</TimeStamp><SuiteTicket><![CDATA[{ticket}]]></SuiteTicket></xml>"
    )
}

async fn post(app: &App, query: &str, body: String) -> (u16, String) {
    let res = Client::new()
        .post(format!("{}/auth/wechat/wecom/push?{query}", app.url))
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_command_callback_verifies_its_url_and_acknowledges_events() {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    let suite = mock.wecom_suite().unwrap().suite_id.clone();
    mock.set_push_url(&suite, Some(&format!("{}/auth/wechat/wecom/push", app.url)))
        .unwrap();
    let verified: Value = Client::new()
        .post(format!("{}/mock/wecom/verify_url", mock.url()))
        .json(&serde_json::json!({ "suite_id": suite }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified["verified"], true, "{verified}");

    let crypto = suite_crypto(&mock, SUITE);
    for xml in [
        format!(
            "<xml><SuiteId><![CDATA[{SUITE}]]></SuiteId><InfoType><![CDATA[create_auth]]></InfoType><TimeStamp>{}</TimeStamp><AuthCode><![CDATA[AUTHCODE]]></AuthCode></xml>",
            now()
        ),
        format!(
            "<xml><SuiteId><![CDATA[{SUITE}]]></SuiteId><InfoType><![CDATA[change_auth]]></InfoType><TimeStamp>{}</TimeStamp><AuthCorpId><![CDATA[{CORP}]]></AuthCorpId></xml>",
            now()
        ),
        format!(
            "<xml><SuiteId><![CDATA[{SUITE}]]></SuiteId><InfoType><![CDATA[cancel_auth]]></InfoType><TimeStamp>{}</TimeStamp><AuthCorpId><![CDATA[{CORP}]]></AuthCorpId></xml>",
            now()
        ),
    ] {
        let (q, body) = sealed(&crypto, &xml, now());
        assert_eq!(post(&app, &q, body).await, (200, "success".to_owned()));
    }
}

#[tokio::test]
async fn the_command_callback_refuses_forgeries_and_keeps_the_newest_ticket() {
    let mock = MockWechat::start().await.unwrap();
    let store = test_store();
    let app = start(config(&mock, WecomScope::Base, store.clone())).await;
    let kept = || async {
        store
            .get(&format!(
                "wechat-auth:{SUITE}:wecom_suite_ticket:{{newest}}"
            ))
            .await
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    };
    let crypto = suite_crypto(&mock, SUITE);

    // A bad signature: 403, the ticket not kept (a login still has none).
    let (q, body) = sealed(&crypto, &ticket_xml("FORGED", now()), now());
    let q = q.replace("msg_signature=", "msg_signature=0");
    assert_eq!(post(&app, &q, body).await.0, 403);
    // Another ReceiveId (sealed for another suite with the same key): 403.
    let other = suite_crypto(&mock, "ww9999999999999999");
    let (q, body) = sealed(&other, &ticket_xml("OTHER", now()), now());
    assert_eq!(post(&app, &q, body).await.0, 403);
    // A stale timestamp: 403.
    let (q, body) = sealed(&crypto, &ticket_xml("OLD", now()), now() - 7200);
    assert_eq!(post(&app, &q, body).await.0, 403);
    // An oversized body: 413, never read.
    let (q, _) = sealed(&crypto, &ticket_xml("BIG", now()), now());
    assert_eq!(post(&app, &q, "x".repeat(200 * 1024)).await.0, 413);
    // Not WeCom's envelope: 400.
    assert_eq!(post(&app, &q, "<nope/>".into()).await.0, 400);
    assert_eq!(kept().await, None, "no ticket was kept from any of these");

    // A genuine ticket, then a replay of it and an older one: acknowledged, the newest kept.
    let (q, body) = sealed(&crypto, &ticket_xml("mock-real-ticket", now()), now());
    assert_eq!(
        post(&app, &q, body.clone()).await,
        (200, "success".to_owned())
    );
    assert_eq!(post(&app, &q, body).await, (200, "success".to_owned()));
    let (q, body) = sealed(&crypto, &ticket_xml("older", now() - 600), now());
    assert_eq!(post(&app, &q, body).await.1, "success");
    // The newest ticket is kept (not the older one, not the forgeries).
    let newest = kept().await.expect("a ticket is kept");
    assert!(newest.ends_with(" mock-real-ticket"), "{newest}");
    // The mock never issued it: get_suite_token refuses it (40085), answered as such.
    let res = login(
        &app,
        &browser(),
        "?channel=wecom&kind=suite&return_to=/whoami",
        "alice",
    )
    .await;
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("WeCom errcode 40085"));
    // WeCom's own push then wins.
    push_ticket(&mock, &app).await;
    let me = logged_in(
        &app,
        &browser(),
        "?channel=wecom&kind=suite&return_to=/whoami",
        "alice",
    )
    .await;
    assert_eq!(me["user_id"], "LiAiLi");
}

#[tokio::test]
async fn without_wecom_settings_channel_wecom_is_not_configured() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(common::base_config(&mock)).await;
    let res = browser()
        .get(format!("{}/auth/wechat/login?channel=wecom", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("channel_not_configured"));
    // Inside the WeCom client without channel=, the WeChat channels answer as before.
    let res = wxwork_browser()
        .get(format!("{}/auth/wechat/login", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(!location(&res).contains("wwlogin"));
}

/// Many corps (one per tenant, self-built or agent-developed): `corp=CORPID` picks one, each
/// with its own token; without `corp=` among several the login is refused saying so.
#[tokio::test]
async fn several_corps_each_log_their_own_members_in() {
    use wechat_auth::mock::{MockConfig, MockWecomCorp, MockWecomMember};
    const OTHER: &str = "ww7000000000000007";
    let mock = MockWechat::start_with(
        MockConfig::new().add_wecom_corp(
            MockWecomCorp::new(OTHER, "1000005", "tenantSecret7")
                .with_member(MockWecomMember::new("alice", "alice-at-7")),
        ),
    )
    .await
    .unwrap();
    let app = start(
        config(&mock, WecomScope::Base, test_store()).with_wecom_corp(WecomCorp::new(
            OTHER,
            "1000005",
            "tenantSecret7",
        )),
    )
    .await;
    let res = browser()
        .get(format!("{}/auth/wechat/login?channel=wecom", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("corp=CORPID"));
    let me = logged_in(
        &app,
        &browser(),
        &format!("?channel=wecom&corp={OTHER}&return_to=/whoami"),
        "alice",
    )
    .await;
    assert_eq!(
        (me["corp_id"].as_str(), me["user_id"].as_str()),
        (Some(OTHER), Some("alice-at-7"))
    );
    let me = logged_in(
        &app,
        &browser(),
        &format!("?channel=wecom&corp={CORP}&return_to=/whoami"),
        "alice",
    )
    .await;
    assert_eq!(
        (me["corp_id"].as_str(), me["user_id"].as_str()),
        (Some(CORP), Some("LiAiLi"))
    );
    assert_eq!(mock.calls("cgi-bin/gettoken"), 2, "one token per corp app");
    assert_eq!(mock.app_calls(OTHER, "cgi-bin/auth/getuserinfo"), 1);
}

/// `display=popup`: the callback tells the opener (echoing the popup's nonce) and sets the
/// session cookie.
#[tokio::test]
async fn a_popup_login_tells_its_opener_with_the_nonce() {
    let mock = MockWechat::start().await.unwrap();
    let app = site(&mock, WecomScope::Base).await;
    let b = browser();
    let nonce = "0123456789abcdef0123456789abcdef";
    let res = login(
        &app,
        &b,
        &format!("?channel=wecom&display=popup&nonce={nonce}&return_to=/whoami"),
        "bob",
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        common::session_token(&res).is_some(),
        "the popup's page signs in"
    );
    let body = res.text().await.unwrap();
    assert!(
        body.contains(&format!(
            "&quot;nonce&quot;:&quot;{nonce}&quot;,&quot;ok&quot;:true"
        )),
        "{body}"
    );
    assert_eq!(whoami(&app, &b).await.unwrap()["user_id"], "BobZhang");
}
