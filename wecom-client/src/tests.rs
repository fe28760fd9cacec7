//! Every call against a tiny WeCom on a real loopback socket, answering the recorded shapes of
//! protocol §20 and §27.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::*;

const CORP: &str = "wwCORP";
const CORP_SECRET: &str = "corp-secret-value";
const TOKEN: &str = "accesstoken000001";
const SUITE: &str = "wwSUITE";
const SUITE_SECRET: &str = "suite-secret-value";
const SUITE_TICKET: &str = "ticket-newest";
const SUITE_TOKEN: &str = "suitetoken000001";

type Params = Query<HashMap<String, String>>;

fn err(code: i64, msg: &str) -> Value {
    json!({
        "errcode": code,
        "errmsg": format!(
            "{msg}, hint: [1651125626252370061579454], from ip: 127.0.0.1, more info at \
             https://open.work.weixin.qq.com/devtool/query?e={code}"
        ),
    })
}

fn ok(mut body: Value) -> Value {
    body["errcode"] = json!(0);
    body["errmsg"] = json!("ok");
    body
}

/// WeCom labels some JSON `text/plain`; the client must not care.
fn plain(body: Value) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body.to_string()).into_response()
}

fn param<'a>(q: &'a Params, name: &str) -> &'a str {
    q.get(name).map_or("", String::as_str)
}

async fn gettoken(q: Params) -> Response {
    let corp = param(&q, "corpid");
    // `E<n>`: answer errcode n (the errcode table over a socket).
    if let Some(code) = corp.strip_prefix('E').and_then(|c| c.parse().ok()) {
        return plain(err(code, "scripted"));
    }
    let body = if corp != CORP {
        err(40013, "invalid corpid")
    } else if param(&q, "corpsecret") != CORP_SECRET {
        err(40001, "invalid credential")
    } else {
        ok(json!({"access_token": TOKEN, "expires_in": 7200}))
    };
    plain(body)
}

fn corp_token(q: &Params) -> Result<(), Value> {
    match param(q, "access_token") {
        TOKEN => Ok(()),
        "expired" => Err(err(42001, "access_token expired")),
        _ => Err(err(40014, "invalid access_token")),
    }
}

async fn getuserinfo(q: Params) -> Json<Value> {
    if let Err(e) = corp_token(&q) {
        return Json(e);
    }
    Json(match param(&q, "code") {
        "code-member" => ok(json!({"userid": "USERID", "user_ticket": "USER_TICKET"})),
        "code-web" => ok(json!({"userid": "lisi"})),
        "code-guest" => ok(json!({"openid": "OPENID", "external_userid": "EXTERNAL_USERID"})),
        "code-other-app" => err(50001, "redirect_uri unauthorized"),
        "code-empty" => ok(json!({})),
        _ => err(40029, "invalid code"),
    })
}

async fn getuserdetail(q: Params, Json(body): Json<Value>) -> Json<Value> {
    if let Err(e) = corp_token(&q) {
        return Json(e);
    }
    Json(if body["user_ticket"] == "USER_TICKET" {
        ok(json!({
            "userid": "lisi",
            "gender": "1",
            "avatar": "http://shp.qpic.cn/bizmp/xxxxxxxxxxx/0",
            "qr_code": "https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=vcfc13b01dfs78e981c",
            "mobile": "13800000000",
            "email": "zhangsan@gzdev.com",
            "biz_mail": "zhangsan@qyycs2.wecom.work",
            "address": "广州市海珠区新港中路"
        }))
    } else {
        err(40029, "invalid user_ticket")
    })
}

async fn get_suite_token(Json(body): Json<Value>) -> Json<Value> {
    Json(if body["suite_id"] != SUITE {
        err(40083, "invalid suite_id")
    } else if body["suite_secret"] != SUITE_SECRET {
        err(40080, "invalid suite_secret")
    } else if body["suite_ticket"] != SUITE_TICKET {
        err(40085, "invalid suite_ticket")
    } else {
        ok(json!({"suite_access_token": SUITE_TOKEN, "expires_in": 7200}))
    })
}

fn suite_token(q: &Params) -> Result<(), Value> {
    match param(q, "suite_access_token") {
        SUITE_TOKEN => Ok(()),
        "expired" => Err(err(42009, "suite_access_token expired")),
        _ => Err(err(
            40082,
            "invalid suite_acccess_token or provider_access_token",
        )),
    }
}

async fn getuserinfo3rd(q: Params) -> Json<Value> {
    if let Err(e) = suite_token(&q) {
        return Json(e);
    }
    Json(match param(&q, "code") {
        "code-web" => ok(json!({"corpid": CORP, "userid": "zhangsan", "open_userid": "woOPEN"})),
        "code-app" => ok(json!({
            "corpid": CORP, "userid": "lisi", "user_ticket": "USER_TICKET_3RD",
            "expires_in": 7200, "open_userid": "woLISI"
        })),
        "code-guest" => ok(json!({"openid": "oGUEST"})),
        "code-uninstalled" => err(41030, "suite not authorized by corp"),
        _ => err(40029, "invalid code"),
    })
}

async fn getuserdetail3rd(q: Params, Json(body): Json<Value>) -> Json<Value> {
    if let Err(e) = suite_token(&q) {
        return Json(e);
    }
    Json(if body["user_ticket"] == "USER_TICKET_3RD" {
        ok(json!({
            "corpid": CORP, "userid": "lisi", "name": "lisi", "gender": "2",
            "avatar": "http://wx.qlogo.cn/mmopen/ajNVdqHZLLA3/0",
            "qr_code": "https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=x"
        }))
    } else {
        err(40029, "invalid user_ticket")
    })
}

/// Serves `router` on a fresh loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/")
}

fn wecom() -> Router {
    Router::new()
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/cgi-bin/auth/getuserinfo", get(getuserinfo))
        .route("/cgi-bin/auth/getuserdetail", post(getuserdetail))
        .route("/cgi-bin/service/get_suite_token", post(get_suite_token))
        .route("/cgi-bin/service/auth/getuserinfo3rd", get(getuserinfo3rd))
        .route(
            "/cgi-bin/service/auth/getuserdetail3rd",
            post(getuserdetail3rd),
        )
}

async fn client_for(router: Router, retries: u32) -> WecomClient {
    WecomClient::builder()
        .with_api_base(serve(router).await)
        .with_max_retries(retries)
        .with_retry_backoff(Duration::from_millis(1))
        .with_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn s(v: &str) -> Secret {
    Secret::new(v)
}

#[tokio::test]
async fn gettoken_answers_and_errcodes() {
    let c = client_for(wecom(), 0).await;
    let t = c.gettoken(CORP, &s(CORP_SECRET)).await.unwrap();
    assert_eq!((t.access_token.expose(), t.expires_in), (TOKEN, 7200));
    let e = c.gettoken("wwOTHER", &s(CORP_SECRET)).await.unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(40013), ErrorKind::Configuration)
    );
    let e = c.gettoken(CORP, &s("wrong")).await.unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(40001), ErrorKind::Configuration)
    );
    assert!(e.hint().contains("corpsecret"), "{e}");
    assert!(e.to_string().contains("e=40001"));
    let e = c.gettoken("E60020", &s(CORP_SECRET)).await.unwrap_err();
    assert!(e.hint().contains("trusted IP"), "{e}");
}

#[tokio::test]
async fn getuserinfo_member_web_member_and_non_member() {
    let c = client_for(wecom(), 0).await;
    let token = s(TOKEN);
    let member = c.getuserinfo(&token, "code-member").await.unwrap();
    assert_eq!(member.user_id(), Some("USERID"));
    assert_eq!(
        member.user_ticket().map(Secret::expose),
        Some("USER_TICKET")
    );
    let web = c.getuserinfo(&token, "code-web").await.unwrap();
    assert_eq!(
        web,
        CorpUser::Member {
            user_id: "lisi".into(),
            user_ticket: None
        }
    );
    let guest = c.getuserinfo(&token, "code-guest").await.unwrap();
    assert_eq!(guest.openid(), Some("OPENID"));
    assert_eq!(guest.user_id(), None);

    let e = c.getuserinfo(&token, "code-used").await.unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(40029), ErrorKind::LoginAgain)
    );
    let e = c.getuserinfo(&token, "code-other-app").await.unwrap_err();
    assert_eq!(e.errcode(), Some(50001));
    assert!(e.hint().contains("trusted domain"));
    let e = c
        .getuserinfo(&s("expired"), "code-member")
        .await
        .unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(42001), ErrorKind::TokenInvalid)
    );
    let e = c.getuserinfo(&s("nope"), "code-member").await.unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(40014), ErrorKind::TokenInvalid)
    );
    let e = c.getuserinfo(&token, "code-empty").await.unwrap_err();
    assert!(matches!(e, WecomError::Decode { .. }), "{e:?}");
}

#[tokio::test]
async fn getuserdetail_reads_the_sensitive_fields() {
    let c = client_for(wecom(), 0).await;
    let d = c.getuserdetail(&s(TOKEN), &s("USER_TICKET")).await.unwrap();
    assert_eq!(d.userid, "lisi");
    assert_eq!(d.gender, Gender::Male);
    assert_eq!(d.mobile, "13800000000");
    assert_eq!(d.biz_mail, "zhangsan@qyycs2.wecom.work");
    let e = c.getuserdetail(&s(TOKEN), &s("other")).await.unwrap_err();
    assert_eq!(e.errcode(), Some(40029));
    let e = c
        .getuserdetail(&s("expired"), &s("USER_TICKET"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenInvalid);
}

#[tokio::test]
async fn suite_token_answers_and_errcodes() {
    let c = client_for(wecom(), 0).await;
    let (secret, ticket) = (s(SUITE_SECRET), s(SUITE_TICKET));
    let t = c.get_suite_token(SUITE, &secret, &ticket).await.unwrap();
    assert_eq!(
        (t.suite_access_token.expose(), t.expires_in),
        (SUITE_TOKEN, 7200)
    );
    let e = c
        .get_suite_token(SUITE, &secret, &s("stale"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(40085), ErrorKind::SuiteTicketInvalid)
    );
    let e = c
        .get_suite_token(SUITE, &s("bad"), &ticket)
        .await
        .unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(40080), ErrorKind::Configuration)
    );
    let e = c
        .get_suite_token("wwNOPE", &secret, &ticket)
        .await
        .unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(40083), ErrorKind::Configuration)
    );
}

#[tokio::test]
async fn getuserinfo3rd_member_and_non_member_then_detail() {
    let c = client_for(wecom(), 0).await;
    let token = s(SUITE_TOKEN);
    let web = c.getuserinfo3rd(&token, "code-web").await.unwrap();
    assert_eq!(
        web,
        SuiteUser::Member {
            corp_id: CORP.into(),
            user_id: "zhangsan".into(),
            open_userid: Some("woOPEN".into()),
            user_ticket: None,
            expires_in: None,
        }
    );
    let app = c.getuserinfo3rd(&token, "code-app").await.unwrap();
    let ticket = app.user_ticket().cloned().unwrap();
    let d = c.getuserdetail3rd(&token, &ticket).await.unwrap();
    assert_eq!(
        (d.corpid.as_str(), d.userid.as_str(), d.gender),
        (CORP, "lisi", Gender::Female)
    );
    let guest = c.getuserinfo3rd(&token, "code-guest").await.unwrap();
    assert_eq!(
        guest,
        SuiteUser::NonMember {
            openid: "oGUEST".into()
        }
    );

    let e = c
        .getuserinfo3rd(&token, "code-uninstalled")
        .await
        .unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(41030), ErrorKind::NotAuthorized)
    );
    let e = c.getuserinfo3rd(&token, "code-x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LoginAgain);
    let e = c
        .getuserinfo3rd(&s("expired"), "code-web")
        .await
        .unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(42009), ErrorKind::SuiteTokenInvalid)
    );
    let e = c.getuserinfo3rd(&s("nope"), "code-web").await.unwrap_err();
    assert_eq!(
        (e.errcode(), e.kind()),
        (Some(40082), ErrorKind::SuiteTokenInvalid)
    );
    let e = c
        .getuserdetail3rd(&s("expired"), &ticket)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SuiteTokenInvalid);
}

/// Each errcode of the table, answered by a real socket, gets the kind of the table.
#[tokio::test]
async fn every_known_errcode_over_the_wire() {
    let c = client_for(wecom(), 0).await;
    for code in known_errcodes() {
        let e = c.gettoken(&format!("E{code}"), &s("x")).await.unwrap_err();
        assert_eq!(e.errcode(), Some(code));
        let expected = if code == 40001 {
            ErrorKind::Configuration
        } else {
            describe(code).unwrap().0
        };
        assert_eq!(e.kind(), expected, "{code}");
    }
}

/// A server that answers `-1` (busy) to the first `fails` calls, then succeeds; counts calls.
fn flaky(fails: usize) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let answer = move |State(calls): State<Arc<AtomicUsize>>| async move {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        Json(if n < fails {
            err(-1, "system busy")
        } else {
            ok(json!({"access_token": TOKEN, "expires_in": 7200, "userid": "u"}))
        })
    };
    let router = Router::new()
        .route("/cgi-bin/gettoken", get(answer))
        .route("/cgi-bin/auth/getuserinfo", get(answer))
        .with_state(calls.clone());
    (router, calls)
}

#[tokio::test]
async fn busy_answers_are_retried_up_to_the_limit() {
    let (router, calls) = flaky(2);
    let c = client_for(router, 2).await;
    c.gettoken(CORP, &s(CORP_SECRET)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // -1 means WeCom did not act: a code exchange is retried too.
    calls.store(0, Ordering::SeqCst);
    c.getuserinfo(&s(TOKEN), "c").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let (router, calls) = flaky(10);
    let c = client_for(router, 1).await;
    let e = c.gettoken(CORP, &s(CORP_SECRET)).await.unwrap_err();
    assert_eq!(e.errcode(), Some(-1));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_timed_out_code_exchange_is_not_repeated_but_a_token_fetch_is() {
    let calls = Arc::new(AtomicUsize::new(0));
    let slow = |State(calls): State<Arc<AtomicUsize>>| async move {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(2)).await;
        Json(json!({}))
    };
    let router = Router::new()
        .route("/cgi-bin/gettoken", get(slow))
        .route("/cgi-bin/auth/getuserinfo", get(slow))
        .route("/cgi-bin/service/auth/getuserinfo3rd", get(slow))
        .with_state(calls.clone());
    let c = WecomClient::builder()
        .with_api_base(serve(router).await)
        .with_max_retries(1)
        .with_retry_backoff(Duration::from_millis(1))
        .with_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let e = c.getuserinfo3rd(&s(SUITE_TOKEN), "code").await.unwrap_err();
    assert!(matches!(e, WecomError::Timeout { .. }), "{e:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let e = c.getuserinfo(&s(TOKEN), "code").await.unwrap_err();
    assert!(matches!(e, WecomError::Timeout { .. }), "{e:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let e = c.gettoken(CORP, &s(CORP_SECRET)).await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn http_errors_and_non_json_answers() {
    let router = Router::new()
        .route(
            "/cgi-bin/gettoken",
            get(|| async { (axum::http::StatusCode::BAD_GATEWAY, "upstream down") }),
        )
        .route(
            "/cgi-bin/auth/getuserinfo",
            get(|| async { "<html>corpsecret=leak</html>" }),
        )
        .route(
            "/cgi-bin/auth/getuserdetail",
            post(|| async { format!(r#"{{"userid":"{}"}}"#, "x".repeat(1 << 20)) }),
        )
        .route(
            "/cgi-bin/service/get_suite_token",
            post(|| async { ([(header::CONTENT_ENCODING, "gzip")], "{}") }),
        );
    let c = client_for(router, 0).await;
    let e = c.gettoken(CORP, &s(CORP_SECRET)).await.unwrap_err();
    assert!(matches!(e, WecomError::Http { status: 502, .. }), "{e:?}");
    assert!(e.is_retryable());
    let e = c.getuserinfo(&s(TOKEN), "c").await.unwrap_err();
    assert!(matches!(e, WecomError::Decode { .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("leak"));
    // Bounded at 1 MiB, not retried (an answer), and the body never quoted.
    let e = c.getuserdetail(&s(TOKEN), &s("t")).await.unwrap_err();
    assert!(
        matches!(&e, WecomError::Decode { detail, .. } if detail.contains("exceeds")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("xxxx"));
    // A compression nobody asked for: a proxy, named as such.
    let e = c
        .get_suite_token(SUITE, &s(SUITE_SECRET), &s(SUITE_TICKET))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("a proxy between this server and WeCom is rewriting answers"),
        "{e}"
    );
}

/// A port with nothing listening: bind, read the port, close.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn transport_errors_do_not_leak_secrets_and_empty_arguments_are_refused() {
    let c = WecomClient::builder()
        .with_api_base(format!("http://127.0.0.1:{}", closed_port()))
        .with_max_retries(0)
        .build()
        .unwrap();
    let e = c
        .gettoken(CORP, &s("SUPERSECRET-corp-123"))
        .await
        .unwrap_err();
    assert!(matches!(e, WecomError::Transport { .. }), "{e:?}");
    let mut chain = format!("{e} | {e:?}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        chain.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    assert!(
        !chain.contains("SUPERSECRET") && !chain.contains("corpsecret="),
        "{chain}"
    );

    let empty = Secret::default();
    let x = s("x");
    for e in [
        c.gettoken("", &x).await.unwrap_err(),
        c.gettoken(CORP, &empty).await.unwrap_err(),
        c.getuserinfo(&empty, "c").await.unwrap_err(),
        c.getuserinfo(&x, " ").await.unwrap_err(),
        c.getuserdetail(&x, &empty).await.unwrap_err(),
        c.get_suite_token(SUITE, &x, &empty).await.unwrap_err(),
        c.get_suite_token("", &x, &x).await.unwrap_err(),
        c.getuserinfo3rd(&empty, "c").await.unwrap_err(),
        c.getuserdetail3rd(&x, &empty).await.unwrap_err(),
    ] {
        // InvalidRequest, not Transport: nothing reached the (closed) port.
        assert!(matches!(e, WecomError::InvalidRequest(_)), "{e:?}");
    }
}

#[test]
fn bases_defaults_env_and_bad_values() {
    let c = WecomClient::new();
    assert_eq!(c.api_base().as_str(), "https://qyapi.weixin.qq.com/");
    assert_eq!(c.open_base().as_str(), "https://open.weixin.qq.com/");
    assert!(format!("{c:?}").contains("max_retries: 2"));
    let env: HashMap<&str, &str> = [
        ("WECHAT_WECOM_API_BASE", "http://127.0.0.1:7001"),
        ("WECHAT_WECOM_LOGIN_BASE", "http://127.0.0.1:7002/login"),
        ("WECHAT_OPEN_BASE", " "),
    ]
    .into_iter()
    .collect();
    let c = WecomClient::builder()
        .with_bases_from(|name| env.get(name).map(|v| (*v).to_owned()))
        .build()
        .unwrap();
    assert_eq!(c.api_base().as_str(), "http://127.0.0.1:7001/");
    assert!(
        c.sso_login_url(SsoApp::Service { suite_id: SUITE }, "r", "s", None)
            .starts_with("http://127.0.0.1:7002/login/wwlogin/sso/login?login_type=ServiceApp")
    );
    assert_eq!(c.open_base().as_str(), "https://open.weixin.qq.com/");
    for bad in [
        "",
        "qyapi.weixin.qq.com",
        "ftp://h",
        "https://u:p@h",
        "https://h/?x=1",
    ] {
        assert!(
            matches!(
                WecomClient::builder().with_api_base(bad).build(),
                Err(WecomError::InvalidConfig(_))
            ),
            "{bad:?}"
        );
    }
    assert!(
        WecomClient::builder()
            .with_login_base("nope")
            .build()
            .is_err()
    );
    assert!(
        WecomClient::builder()
            .with_timeout(Duration::ZERO)
            .build()
            .is_err()
    );
}

/// axum handlers and `tokio::spawn` need `Send` futures; this fails to compile otherwise.
#[test]
fn client_is_sync_and_calls_are_send() {
    fn send<T: Send>(_: T) {}
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<WecomClient>();
    send_sync::<WecomError>();
    send_sync::<WecomCrypto>();
    let c = WecomClient::new();
    let x = s("x");
    send(c.gettoken("a", &x));
    send(c.getuserinfo(&x, "c"));
    send(c.getuserdetail(&x, &x));
    send(c.get_suite_token("a", &x, &x));
    send(c.getuserinfo3rd(&x, "c"));
    send(c.getuserdetail3rd(&x, &x));
}
