//! The envelopes on the recorded answers of protocol §29, and every call against a tiny Douyin
//! on a real loopback socket (form and JSON bodies, the `access-token` header, retries).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::{Value, json};

use super::envelope::{Envelope, parse};
use super::*;

const AT: &str = "oauth/access_token/";

fn api_err<T: DeserializeOwned + fmt::Debug>(env: Envelope, body: &str) -> DouyinError {
    match parse::<T>(env, AT, 200, body.as_bytes()) {
        Err(e @ DouyinError::Api { .. }) => e,
        other => panic!("{body}: expected an Api error, got {other:?}"),
    }
}

#[test]
fn recorded_access_token_answer() {
    let body = r#"{"data":{"access_token":"act.f7094fbffab2ecbfc45e9af9c32bc241oYdckvBKe82BPx8T******","captcha":"","desc_url":"","description":"","error_code":0,"expires_in":1296000,"log_id":"20230525105733ED3ED7AC56A******","open_id":"b9b71865-7fea-44cc-******","refresh_expires_in":2592000,"refresh_token":"rft.713900b74edde9f30ec4e246b706da30t******","scope":"user_info"},"message":"success"}"#;
    let t: UserToken = parse(Envelope::Open, AT, 200, body.as_bytes()).unwrap();
    assert_eq!(t.expires_in, 1_296_000);
    assert_eq!(t.refresh_expires_in, 2_592_000);
    assert_eq!(t.open_id, "b9b71865-7fea-44cc-******");
    assert_eq!(t.scope, "user_info");
    assert!(t.access_token.expose().starts_with("act."));
    assert!(!format!("{t:?}").contains("act."), "tokens never in Debug");
}

#[test]
fn recorded_renew_client_token_and_userinfo_answers() {
    let r: RenewedRefreshToken = parse(
        Envelope::Open,
        AT,
        200,
        br#"{"data":{"description":"","error_code":0,"expires_in":2592000,"refresh_token":"rft.new"},"message":"success"}"#,
    )
    .unwrap();
    assert_eq!(r.expires_in, 2_592_000);
    let c: ClientToken = parse(
        Envelope::Open,
        AT,
        200,
        br#"{"data":{"access_token":"clt.abc","description":"","error_code":0,"expires_in":7200},"message":"success"}"#,
    )
    .unwrap();
    assert_eq!(c.access_token.expose(), "clt.abc");
    // An older sample: error_code as a string, and fields documented as not returned.
    let p: Profile = parse(
        Envelope::Open,
        AT,
        200,
        r#"{"data":{"avatar":"https://p3.douyinpic.com/aweme/100x100/x.jpeg","city":"","country":"","description":"","e_account_role":"","error_code":"0","gender":0,"nickname":"张三","open_id":"0da22181-d833-447f-995f-1beefea5bef3","province":"","union_id":"1ad4e099-4a0c-47d1-a410-bffb4f2f64a4"},"message":"success"}"#.as_bytes(),
    )
    .unwrap();
    assert_eq!(p.nickname.as_deref(), Some("张三"));
    assert_eq!(
        p.union_id.as_deref(),
        Some("1ad4e099-4a0c-47d1-a410-bffb4f2f64a4")
    );
    assert!(p.avatar.unwrap().starts_with("https://"));
    let p: Profile = parse(
        Envelope::Open,
        AT,
        200,
        br#"{"data":{"avatar":"","nickname":"","open_id":"o1","union_id":"","error_code":0,"description":""},"message":"success"}"#,
    )
    .unwrap();
    assert_eq!((p.nickname, p.avatar, p.union_id), (None, None, None));
}

#[test]
fn recorded_error_shapes() {
    // The documented error shape: data.error_code + description, extra.logid.
    let e = api_err::<UserToken>(
        Envelope::Open,
        r#"{"data":{"description":"Parameter error","error_code":2100005},"extra":{"logid":"2020070614111601022506808001045D59","now":1594015876138}}"#,
    );
    let DouyinError::Api {
        code,
        description,
        logid,
        ..
    } = &e
    else {
        unreachable!()
    };
    assert_eq!(*code, 2_100_005);
    assert_eq!(description, "Parameter error");
    assert_eq!(logid.as_deref(), Some("2020070614111601022506808001045D59"));
    // From the code exchange the code is the parameter at fault: log in again.
    assert_eq!(e.kind(), ErrorKind::LoginAgain);
    let elsewhere = DouyinError::Api {
        endpoint: "oauth/userinfo/",
        code: 2_100_005,
        description: String::new(),
        logid: None,
    };
    assert_eq!(elsewhere.kind(), ErrorKind::InvalidRequest);
    // An older answer: the number as a string.
    let e = api_err::<UserToken>(
        Envelope::Open,
        r#"{"data":{"description":"access_token过期","error_code":"10008"},"message":"error"}"#,
    );
    assert_eq!((e.code(), e.kind()), (Some(10008), ErrorKind::TokenInvalid));
    // The code in `extra`, data empty.
    let e = api_err::<UserToken>(
        Envelope::Open,
        r#"{"data":{},"extra":{"error_code":28003018,"description":"rate limited","logid":"L"}}"#,
    );
    assert_eq!((e.code(), e.kind()), (Some(28_003_018), ErrorKind::Quota));
    // The mini-app host.
    let e = api_err::<MiniappSession>(
        Envelope::Miniapp,
        r#"{"err_no":40018,"err_tips":"bad code","data":{"session_key":"","openid":"","anonymous_openid":"","unionid":""}}"#,
    );
    assert_eq!((e.code(), e.kind()), (Some(40018), ErrorKind::LoginAgain));
    let e = api_err::<MiniappSession>(
        Envelope::Miniapp,
        r#"{"error":1,"errcode":40015,"errmsg":"bad appid","message":"bad appid"}"#,
    );
    assert_eq!(
        (e.code(), e.kind()),
        (Some(40015), ErrorKind::Configuration)
    );
    let s: MiniappSession = parse(
        Envelope::Miniapp,
        AT,
        200,
        br#"{"err_no":0,"err_tips":"success","data":{"session_key":"hZy6t19VPjFqm********","openid":"V3WvSshYq9******","anonymous_openid":"","unionid":"f7510d9ab***********"}}"#,
    )
    .unwrap();
    assert_eq!(s.openid, "V3WvSshYq9******");
    assert_eq!(s.unionid.as_deref(), Some("f7510d9ab***********"));
    assert!(
        !format!("{s:?}").contains("hZy6t19"),
        "session_key never in Debug"
    );
}

#[test]
fn every_error_row_of_the_issue_has_its_kind() {
    let rows = [
        (10008, ErrorKind::TokenInvalid),
        (10010, ErrorKind::LoginAgain),
        (10020, ErrorKind::LoginAgain),
        (2_100_005, ErrorKind::InvalidRequest),
        (2_190_008, ErrorKind::TokenInvalid),
        (28_001_005, ErrorKind::Retryable),
        (28_001_007, ErrorKind::InvalidRequest),
        (28_001_008, ErrorKind::TokenInvalid),
        (28_001_012, ErrorKind::Permission),
        (28_001_015, ErrorKind::TokenInvalid),
        (28_001_016, ErrorKind::Configuration),
        (28_003_018, ErrorKind::Quota),
        (40015, ErrorKind::Configuration),
        (40017, ErrorKind::Configuration),
        (40018, ErrorKind::LoginAgain),
    ];
    for (code, kind) in rows {
        let (k, hint) = describe(code).unwrap_or_else(|| panic!("{code} unknown"));
        assert_eq!(k, kind, "{code}");
        assert!(
            hint.contains(&code.to_string()),
            "{code}: the hint names its number"
        );
    }
    let unknown = DouyinError::Api {
        endpoint: AT,
        code: 99,
        description: String::new(),
        logid: None,
    };
    assert_eq!(unknown.kind(), ErrorKind::Other);
    let renew = DouyinError::Api {
        endpoint: "oauth/renew_refresh_token/",
        code: 10020,
        description: String::new(),
        logid: None,
    };
    assert!(renew.is_renew_limit());
}

#[test]
fn unreadable_answers_never_quote_the_body() {
    let secret = "act.SECRET_9f8e";
    for body in [
        format!("<html>{secret}</html>"),
        format!(r#"{{"data":{{"access_token":"{secret}","expires_in":"{secret}"}}}}"#),
        format!(r#"{{"data":"{secret}"}}"#),
        format!(r#"{{"message":"{secret}"}}"#),
        format!(r#"{{"data":{{"error_code":true,"x":"{secret}"}}}}"#),
    ] {
        match parse::<UserToken>(Envelope::Open, AT, 200, body.as_bytes()) {
            Err(e @ DouyinError::Decode { .. }) => {
                assert!(!e.to_string().contains(secret), "{e}");
                assert!(!format!("{e:?}").contains(secret), "{e:?}");
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    assert!(matches!(
        parse::<UserToken>(Envelope::Open, AT, 502, b"{}"),
        Err(DouyinError::Http { status: 502, .. })
    ));
}

// --- over a socket -------------------------------------------------------------------------

const KEY: &str = "awKEY";
const SECRET: &str = "client-secret-value";

#[derive(Default)]
struct Seen {
    calls: AtomicUsize,
    busy_left: AtomicUsize,
}

fn ok(data: Value) -> Json<Value> {
    let mut data = data;
    data["error_code"] = json!(0);
    data["description"] = json!("");
    Json(json!({"data": data, "message": "success"}))
}

fn fail(code: i64, text: &str) -> Json<Value> {
    Json(json!({
        "data": {"description": text, "error_code": code},
        "extra": {"logid": "LOG1", "now": 1_594_015_876_138_u64},
    }))
}

async fn access_token(
    State(s): State<Arc<Seen>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    if s.busy_left.load(Ordering::SeqCst) > 0 {
        s.busy_left.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let get = |k: &str| f.get(k).map_or("", String::as_str);
    if get("client_key") != KEY || get("client_secret") != SECRET {
        return fail(28_001_007, "bad client").into_response();
    }
    if get("grant_type") != "authorization_code" {
        return fail(2_100_005, "grant_type").into_response();
    }
    match get("code") {
        "good" => ok(json!({
            "access_token": "act.1", "expires_in": 1_296_000, "open_id": "OPEN1",
            "refresh_token": "rft.1", "refresh_expires_in": 2_592_000, "scope": "user_info",
        }))
        .into_response(),
        _ => fail(10007, "code expired").into_response(),
    }
}

async fn userinfo(headers: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Json<Value> {
    let header = headers.get("access-token").and_then(|v| v.to_str().ok());
    if header != Some("act.1") || f.get("access_token").map(String::as_str) != Some("act.1") {
        return fail(28_001_008, "access_token expired");
    }
    if f.get("open_id").map(String::as_str) != Some("OPEN1") {
        return fail(28_001_015, "mismatch");
    }
    ok(
        json!({"open_id": "OPEN1", "union_id": "UNION1", "nickname": "抖音用户", "avatar": "https://a/b.jpg"}),
    )
}

async fn renew(Form(f): Form<HashMap<String, String>>) -> Json<Value> {
    match f.get("refresh_token").map(String::as_str) {
        Some("rft.1") => ok(json!({"refresh_token": "rft.2", "expires_in": 2_592_000})),
        _ => fail(10020, "renew limit"),
    }
}

async fn client_token(Json(j): Json<Value>) -> Json<Value> {
    if j["client_secret"] == SECRET && j["grant_type"] == "client_credential" {
        ok(json!({"access_token": "clt.1", "expires_in": 7200}))
    } else {
        fail(10020, "too many")
    }
}

async fn jscode2session(Json(j): Json<Value>) -> Json<Value> {
    if j["appid"] != "ttAPP" {
        return Json(json!({"err_no": 40015, "err_tips": "bad appid"}));
    }
    if j["secret"] != "mini-secret" {
        return Json(json!({"err_no": 40017, "err_tips": "bad secret"}));
    }
    if j["code"] != "tt-good" {
        return Json(json!({"err_no": 40018, "err_tips": "bad code"}));
    }
    Json(json!({"err_no": 0, "err_tips": "success", "data": {
        "session_key": "sk", "openid": "MINI1", "anonymous_openid": "", "unionid": "UNION1"}}))
}

async fn serve(seen: Arc<Seen>) -> DouyinClient {
    let app = Router::new()
        .route("/oauth/access_token/", post(access_token))
        .route("/oauth/userinfo/", post(userinfo))
        .route("/oauth/renew_refresh_token/", post(renew))
        .route("/oauth/client_token/", post(client_token))
        .route("/api/apps/v2/jscode2session", post(jscode2session))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    DouyinClient::builder()
        .with_open_base(format!("http://{addr}"))
        .with_miniapp_base(format!("http://{addr}"))
        .with_retry_backoff(Duration::from_millis(1))
        .build()
        .unwrap()
}

#[tokio::test]
async fn login_calls_over_a_socket() {
    let seen = Arc::new(Seen::default());
    let c = serve(seen.clone()).await;
    let secret = Secret::new(SECRET);
    let t = c.access_token(KEY, &secret, "good").await.unwrap();
    assert_eq!(t.open_id, "OPEN1");
    let p = c.userinfo(&t.access_token, &t.open_id).await.unwrap();
    assert_eq!(p.union_id.as_deref(), Some("UNION1"));
    let e = c.userinfo(&t.access_token, "OTHER").await.unwrap_err();
    assert_eq!(e.code(), Some(28_001_015));
    let e = c.access_token(KEY, &secret, "used").await.unwrap_err();
    assert_eq!((e.code(), e.kind()), (Some(10007), ErrorKind::LoginAgain));
    assert!(
        e.to_string().contains("LOG1")
            || matches!(&e, DouyinError::Api { logid: Some(l), .. } if l == "LOG1")
    );
    let e = c
        .access_token(KEY, &Secret::new("S3cr3tZZ"), "good")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(
        !e.to_string().contains("S3cr3tZZ"),
        "the secret is not in the error"
    );
    let r = c.renew_refresh_token(KEY, &t.refresh_token).await.unwrap();
    assert_eq!(r.refresh_token.expose(), "rft.2");
    let e = c
        .renew_refresh_token(KEY, &r.refresh_token)
        .await
        .unwrap_err();
    assert!(e.is_renew_limit());
    let ct = c.client_token(KEY, &secret).await.unwrap();
    assert_eq!(ct.expires_in, 7200);
    let e = c.client_token(KEY, &Secret::new("x")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Quota);
    let s = c
        .jscode2session("ttAPP", &Secret::new("mini-secret"), "tt-good")
        .await
        .unwrap();
    assert_eq!(
        (s.openid.as_str(), s.unionid.as_deref()),
        ("MINI1", Some("UNION1"))
    );
    for (appid, secret, code, want) in [
        ("ttOTHER", "mini-secret", "tt-good", 40015),
        ("ttAPP", "nope", "tt-good", 40017),
        ("ttAPP", "mini-secret", "used", 40018),
    ] {
        let e = c
            .jscode2session(appid, &Secret::new(secret), code)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(want));
    }
    let e = c.access_token(KEY, &secret, " ").await.unwrap_err();
    assert!(matches!(e, DouyinError::InvalidRequest(_)));
}

#[tokio::test]
async fn a_busy_code_exchange_is_retried_but_a_refusal_is_not() {
    let seen = Arc::new(Seen::default());
    seen.busy_left.store(2, Ordering::SeqCst);
    let c = serve(seen.clone()).await;
    let secret = Secret::new(SECRET);
    let t = c.access_token(KEY, &secret, "good").await.unwrap();
    assert_eq!(t.open_id, "OPEN1");
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        3,
        "two 503s, then the answer"
    );
    seen.calls.store(0, Ordering::SeqCst);
    let _ = c.access_token(KEY, &secret, "used").await.unwrap_err();
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1, "10007 is not retried");
}

#[test]
fn connect_url_has_no_secret_and_encodes_everything() {
    let c = DouyinClient::builder()
        .with_open_base("http://127.0.0.1:9/douyin")
        .build()
        .unwrap();
    let url =
        Url::parse(&c.connect_url(KEY, "https://a.example/cb", "douyin&x=1", "user_info")).unwrap();
    assert_eq!(url.path(), "/douyin/platform/oauth/connect/");
    let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "douyin&x=1");
    assert_eq!(q["redirect_uri"], "https://a.example/cb");
    assert_eq!(q["response_type"], "code");
    assert!(!format!("{c:?}").contains("secret"));
}
