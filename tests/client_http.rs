//! `WechatClient` over real sockets against a throwaway axum server on 127.0.0.1:0.
//!
//! Each test scripts the server with a closure `(call index, request) -> reply` and then checks
//! both what the client returned and what reached the server (how many requests, which
//! method, query and body).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wechat_auth::Secret;
use wechat_auth::client::{ErrorKind, Lang, QrCodeRequest, WechatClient, WechatError};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    content_type: Option<String>,
    body: Bytes,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the server answers.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    delay: Duration,
    /// Stream the body in 64 KiB chunks without a Content-Length.
    chunked: bool,
}

impl Reply {
    fn json(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            content_type: "application/json; charset=utf-8",
            body: body.into(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    fn status(status: u16) -> Self {
        Self {
            status,
            content_type: "text/html",
            body: "<html>upstream error</html>".into(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    fn content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = content_type;
        self
    }

    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

type Respond = Arc<dyn Fn(usize, &Call) -> Reply + Send + Sync>;

#[derive(Clone)]
struct AppState {
    calls: Arc<Mutex<Vec<Call>>>,
    respond: Respond,
}

struct Server {
    base: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Server {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// A client on this server with a short backoff so retry tests stay fast.
    fn client(&self) -> WechatClient {
        self.builder().build().unwrap()
    }

    fn builder(&self) -> wechat_auth::client::WechatClientBuilder {
        WechatClient::builder()
            .with_api_base(&self.base)
            .with_retry_backoff(Duration::from_millis(10))
    }
}

async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let call = Call {
        method,
        path: uri.path().to_owned(),
        query,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    };
    let reply = {
        let mut calls = state.calls.lock().unwrap();
        let index = calls.len();
        calls.push(call.clone());
        (state.respond)(index, &call)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    let headers = [(header::CONTENT_TYPE, reply.content_type)];
    if reply.chunked {
        let chunks: Vec<Result<Bytes, Infallible>> = reply
            .body
            .into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        (status, headers, body).into_response()
    } else {
        (status, headers, reply.body).into_response()
    }
}

async fn start(respond: impl Fn(usize, &Call) -> Reply + Send + Sync + 'static) -> Server {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        calls: calls.clone(),
        respond: Arc::new(respond),
    };
    let app = Router::new().fallback(handle).with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        calls,
    }
}

const OAUTH_OK: &str = r#"{"access_token":"ACCESS_TOKEN","expires_in":7200,"refresh_token":"REFRESH_TOKEN","openid":"OPENID","scope":"snsapi_userinfo","unionid":"UNIONID"}"#;
const BUSY: &str = r#"{"errcode":-1,"errmsg":"system error, rid: 66b5fb8f-5e3c0071-3d7f539a"}"#;

#[tokio::test]
async fn busy_twice_then_success_takes_three_requests() {
    let server = start(|i, _| {
        if i < 2 {
            Reply::json(BUSY)
        } else {
            Reply::json(
                r#"{"openid":"OPENID","nickname":"N","sex":0,"province":"","city":"","country":"","headimgurl":"","privilege":[]}"#,
            )
        }
    })
    .await;
    let info = server
        .client()
        .userinfo(&Secret::new("UAT"), "OPENID", Lang::En)
        .await
        .unwrap();
    assert_eq!(info.nickname, "N");
    let calls = server.calls();
    assert_eq!(calls.len(), 3);
    for call in &calls {
        assert_eq!(call.method, Method::GET);
        assert_eq!(call.path, "/sns/userinfo");
        assert_eq!(call.query["access_token"], "UAT");
        assert_eq!(call.query["openid"], "OPENID");
        assert_eq!(call.query["lang"], "en");
    }
}

#[tokio::test]
async fn busy_forever_stops_after_max_retries() {
    let server = start(|_, _| Reply::json(BUSY)).await;
    let err = server
        .client()
        .token("wxA", &Secret::new("S"))
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    assert_eq!(server.count(), 3);

    let server = start(|_, _| Reply::json(BUSY)).await;
    let client = server.builder().with_max_retries(0).build().unwrap();
    assert!(client.token("wxA", &Secret::new("S")).await.is_err());
    assert_eq!(server.count(), 1);

    let server = start(|_, _| Reply::json(BUSY)).await;
    let client = server.builder().with_max_retries(4).build().unwrap();
    assert!(client.token("wxA", &Secret::new("S")).await.is_err());
    assert_eq!(server.count(), 5);
}

#[tokio::test]
async fn code_exchange_busy_is_retried() {
    // WeChat said -1 (it did not act), so even a code exchange is tried again.
    let server = start(|i, _| {
        if i == 0 {
            Reply::json(BUSY)
        } else {
            Reply::json(OAUTH_OK)
        }
    })
    .await;
    let token = server
        .client()
        .oauth2_access_token("wxA", &Secret::new("S"), "CODE")
        .await
        .unwrap();
    assert_eq!(token.openid, "OPENID");
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn slow_code_exchange_times_out_quickly_and_is_not_retried() {
    let server = start(|_, _| Reply::json(OAUTH_OK).delayed(Duration::from_secs(3))).await;
    let client = server
        .builder()
        .with_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .oauth2_access_token("wxA", &Secret::new("S"), "CODE")
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(
            err,
            WechatError::Timeout {
                endpoint: "sns/oauth2/access_token"
            }
        ),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    // The code may have been used by the first request: no second exchange.
    assert_eq!(server.count(), 1);

    let err = client
        .jscode2session("wxM", &Secret::new("S"), "JSCODE")
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::Timeout { .. }), "{err:?}");
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn slow_idempotent_call_times_out_after_retries() {
    let server = start(|_, _| Reply::json("{}").delayed(Duration::from_secs(3))).await;
    let client = server
        .builder()
        .with_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .sns_auth(&Secret::new("UAT"), "OPENID")
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, WechatError::Timeout { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Retryable);
    assert_eq!(server.count(), 3);
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[tokio::test]
async fn text_plain_json_is_parsed() {
    let server = start(|_, _| Reply::json(OAUTH_OK).content_type("text/plain")).await;
    let token = server
        .client()
        .oauth2_access_token("wxWEB", &Secret::new("APPSECRET"), "CODE123")
        .await
        .unwrap();
    assert_eq!(token.access_token.expose(), "ACCESS_TOKEN");
    assert_eq!(token.refresh_token.expose(), "REFRESH_TOKEN");
    assert_eq!(token.unionid.as_deref(), Some("UNIONID"));
    assert!(!token.is_snapshotuser);

    let calls = server.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, Method::GET);
    assert_eq!(calls[0].path, "/sns/oauth2/access_token");
    let expected: HashMap<String, String> = [
        ("appid", "wxWEB"),
        ("secret", "APPSECRET"),
        ("code", "CODE123"),
        ("grant_type", "authorization_code"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(calls[0].query, expected);
}

#[tokio::test]
async fn server_errors_are_http_errors_and_only_5xx_is_retried() {
    let server = start(|_, _| Reply::status(503)).await;
    let err = server
        .client()
        .token("wxA", &Secret::new("S"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WechatError::Http {
                status: 503,
                endpoint: "cgi-bin/token"
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.count(), 3);

    let server = start(|_, _| Reply::status(404)).await;
    let err = server
        .client()
        .token("wxA", &Secret::new("S"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WechatError::Http { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(server.count(), 1);

    // A redirect is not followed: it is an HTTP error, sent once.
    let server = start(|_, _| Reply::status(302)).await;
    let err = server
        .client()
        .token("wxA", &Secret::new("S"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WechatError::Http { status: 302, .. }),
        "{err:?}"
    );
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn code_exchange_5xx_then_success() {
    let server = start(|i, _| {
        if i == 0 {
            Reply::status(502)
        } else {
            Reply::json(r#"{"openid":"O","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}"#)
        }
    })
    .await;
    let session = server
        .client()
        .jscode2session("wxMINI", &Secret::new("S"), "JS")
        .await
        .unwrap();
    assert_eq!(session.session_key.expose(), "tiihtNczf5v6AKRyjwEUhQ==");
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn used_code_is_not_retried() {
    let server = start(|_, _| {
        Reply::json(
            r#"{"errcode":40163,"errmsg":"code been used, rid: 6512a0f1-1b2c3d4e-5f607182"}"#,
        )
    })
    .await;
    let client = server.client();
    let err = client
        .jscode2session("wxMINI", &Secret::new("S"), "JS")
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40163));
    assert_eq!(err.kind(), ErrorKind::LoginAgain);
    assert!(err.to_string().contains("rid: 6512a0f1-1b2c3d4e-5f607182"));
    assert_eq!(server.count(), 1);
    let calls = server.calls();
    assert_eq!(calls[0].path, "/sns/jscode2session");
    assert_eq!(calls[0].query["js_code"], "JS");
    assert_eq!(calls[0].query["grant_type"], "authorization_code");

    let err = client
        .oauth2_access_token("wxA", &Secret::new("S"), "C")
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40163));
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn stable_token_posts_the_exact_json_body() {
    let server = start(|_, _| Reply::json(r#"{"access_token":"70_abc","expires_in":7200}"#)).await;
    let client = server.client();
    let token = client
        .stable_token("wxOA", &Secret::new("OASECRET"), false)
        .await
        .unwrap();
    assert_eq!(token.access_token.expose(), "70_abc");
    client
        .stable_token("wxOA", &Secret::new("OASECRET"), true)
        .await
        .unwrap();

    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    for (call, force) in calls.iter().zip([false, true]) {
        assert_eq!(call.method, Method::POST);
        assert_eq!(call.path, "/cgi-bin/stable_token");
        assert!(call.query.is_empty(), "secret must not be in the query");
        assert_eq!(call.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            call.json(),
            json!({"grant_type":"client_credential","appid":"wxOA","secret":"OASECRET","force_refresh":force})
        );
    }
}

#[tokio::test]
async fn qrcode_create_posts_the_exact_json_body() {
    let server = start(|_, _| {
        Reply::json(
            r#"{"ticket":"gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==","expire_seconds":300,"url":"http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI"}"#,
        )
    })
    .await;
    let client = server.client();
    let global = Secret::new("GLOBAL_TOKEN");
    let ticket = client
        .qrcode_create(&global, &QrCodeRequest::temporary_str("login_3f9a2c", 300))
        .await
        .unwrap();
    assert_eq!(ticket.expire_seconds, Some(300));
    assert_eq!(ticket.url, "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI");
    client
        .qrcode_create(&global, &QrCodeRequest::permanent_int(123))
        .await
        .unwrap();

    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.method, Method::POST);
        assert_eq!(call.path, "/cgi-bin/qrcode/create");
        assert_eq!(call.query.len(), 1);
        assert_eq!(call.query["access_token"], "GLOBAL_TOKEN");
        assert_eq!(call.content_type.as_deref(), Some("application/json"));
    }
    assert_eq!(
        calls[0].json(),
        json!({"expire_seconds":300,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"login_3f9a2c"}}})
    );
    assert_eq!(
        calls[1].json(),
        json!({"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":123}}})
    );

    // An invalid request never reaches the server.
    let err = client
        .qrcode_create(&global, &QrCodeRequest::temporary_str("x".repeat(65), 300))
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::InvalidRequest(_)), "{err:?}");
    let err = client
        .qrcode_create(&global, &QrCodeRequest::temporary_int(7, 2_592_001))
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::InvalidRequest(_)), "{err:?}");
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn get_endpoints_send_the_documented_queries() {
    let server = start(|_, call| match call.path.as_str() {
        "/sns/oauth2/refresh_token" => Reply::json(
            r#"{"access_token":"A2","expires_in":7200,"refresh_token":"R","openid":"O","scope":"snsapi_base"}"#,
        ),
        "/cgi-bin/token" => Reply::json(r#"{"access_token":"G","expires_in":7200}"#),
        "/cgi-bin/user/info" => Reply::json(
            r#"{"subscribe":1,"openid":"O","subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":0,"qr_scene_str":"login_1","unionid":"U"}"#,
        ),
        "/sns/auth" => Reply::json(r#"{"errcode":0,"errmsg":"ok"}"#),
        _ => Reply::status(404),
    })
    .await;
    let client = server.client();

    let refreshed = client
        .oauth2_refresh_token("wxA", &Secret::new("R"))
        .await
        .unwrap();
    assert_eq!(refreshed.access_token.expose(), "A2");
    assert_eq!(refreshed.unionid, None);
    client.token("wxOA", &Secret::new("SEC")).await.unwrap();
    let follower = client
        .user_info(&Secret::new("G"), "O", Lang::ZhTw)
        .await
        .unwrap();
    assert!(follower.subscribe);
    assert_eq!(follower.qr_scene_str, "login_1");
    client.sns_auth(&Secret::new("A2"), "O").await.unwrap();

    let calls = server.calls();
    let query = |i: usize| {
        let mut pairs: Vec<(String, String)> = calls[i].query.clone().into_iter().collect();
        pairs.sort();
        pairs
    };
    let pairs = |list: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = list
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c.method == Method::GET));
    assert_eq!(
        query(0),
        pairs(&[
            ("appid", "wxA"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "R")
        ])
    );
    assert_eq!(
        query(1),
        pairs(&[
            ("grant_type", "client_credential"),
            ("appid", "wxOA"),
            ("secret", "SEC")
        ])
    );
    assert_eq!(
        query(2),
        pairs(&[("access_token", "G"), ("openid", "O"), ("lang", "zh_TW")])
    );
    assert_eq!(query(3), pairs(&[("access_token", "A2"), ("openid", "O")]));
}

#[tokio::test]
async fn sns_auth_error_and_snapshot_user() {
    let server = start(|_, call| match call.path.as_str() {
        "/sns/auth" => Reply::json(r#"{"errcode":40003,"errmsg":"invalid openid"}"#),
        _ => Reply::json(
            r#"{"access_token":"A","expires_in":7200,"refresh_token":"R","openid":"OV","scope":"snsapi_userinfo","is_snapshotuser":1,"unionid":"UV"}"#,
        ),
    })
    .await;
    let client = server.client();
    let err = client
        .sns_auth(&Secret::new("A"), "wrong")
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40003));
    let token = client
        .oauth2_access_token("wxOA", &Secret::new("S"), "C")
        .await
        .unwrap();
    assert!(token.is_snapshotuser);
}

#[tokio::test]
async fn oversized_and_non_json_bodies_are_decode_errors() {
    let server = start(|i, _| {
        if i == 0 {
            Reply::json(format!(
                "{{\"access_token\":\"{}\",\"expires_in\":1}}",
                "x".repeat(2 << 20)
            ))
        } else {
            Reply::json("<html>SECRET-ish page</html>").content_type("text/html")
        }
    })
    .await;
    let client = server.client();
    let err = client.token("wxA", &Secret::new("S")).await.unwrap_err();
    assert!(
        matches!(&err, WechatError::Decode { detail, .. } if detail.contains("exceeds")),
        "{err:?}"
    );
    let err = client.token("wxA", &Secret::new("S")).await.unwrap_err();
    assert!(matches!(err, WechatError::Decode { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("SECRET-ish"));
    // Decode errors are not retried.
    assert_eq!(server.count(), 2);
}

/// Log capture. One global TRACE subscriber (scoped subscribers with different levels race
/// on tracing's shared callsite cache) whose writer files output under the current thread:
/// a `#[tokio::test]` runs the client, the server and their tasks on its own thread.
fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| ThreadLog)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    logs_by_thread().remove(&std::thread::current().id());
}

fn logs_by_thread() -> std::sync::MutexGuard<'static, HashMap<ThreadId, Vec<u8>>> {
    static LOGS: OnceLock<Mutex<HashMap<ThreadId, Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(Mutex::default).lock().unwrap()
}

/// What this thread logged since [`capture_logs`].
fn captured_logs() -> String {
    let bytes = logs_by_thread()
        .get(&std::thread::current().id())
        .cloned()
        .unwrap_or_default();
    String::from_utf8(bytes).unwrap()
}

struct ThreadLog;

impl io::Write for ThreadLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        logs_by_thread()
            .entry(std::thread::current().id())
            .or_default()
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_name_the_endpoint_and_errcode_but_never_secrets() {
    capture_logs();
    let server = start(|i, _| match i {
        0 => Reply::json(BUSY),
        1 => Reply::json(r#"{"access_token":"TOKEN-d41d8cd9","expires_in":7200,"refresh_token":"REFRESH-8f00b204","openid":"O","scope":"snsapi_login"}"#),
        _ => Reply::json(r#"{"errcode":40125,"errmsg":"invalid appsecret"}"#),
    })
    .await;
    let client = server.client();
    let secret = Secret::new("APPSECRET-e9800998");
    client
        .oauth2_access_token("wxA", &secret, "CODE-ecf8427e")
        .await
        .unwrap();
    client
        .oauth2_access_token("wxA", &secret, "CODE-ecf8427e")
        .await
        .unwrap_err();

    let logs = captured_logs();
    assert!(logs.contains("sns/oauth2/access_token"), "{logs}");
    assert!(logs.contains("errcode=-1"), "{logs}");
    assert!(logs.contains("errcode=40125"), "{logs}");
    assert!(logs.contains("elapsed_ms"), "{logs}");
    assert!(logs.contains("attempt=2"), "{logs}");
    for secret in [
        "APPSECRET-e9800998",
        "CODE-ecf8427e",
        "TOKEN-d41d8cd9",
        "REFRESH-8f00b204",
        "secret=",
    ] {
        assert!(!logs.contains(secret), "{secret} in logs:\n{logs}");
    }
}

#[tokio::test]
async fn chunked_bodies_are_read_and_bounded() {
    let server = start(|i, _| {
        if i == 0 {
            Reply::json(r#"{"access_token":"CHUNKED","expires_in":7200}"#).chunked()
        } else {
            // 2 MiB streamed without Content-Length: refused while reading.
            Reply::json(format!(
                "{{\"access_token\":\"{}\",\"expires_in\":1}}",
                "x".repeat(2 << 20)
            ))
            .chunked()
        }
    })
    .await;
    let client = server.client();
    let token = client.token("wxA", &Secret::new("S")).await.unwrap();
    assert_eq!(token.access_token.expose(), "CHUNKED");
    let err = client.token("wxA", &Secret::new("S")).await.unwrap_err();
    assert!(
        matches!(&err, WechatError::Decode { detail, .. } if detail.contains("exceeds")),
        "{err:?}"
    );
    assert_eq!(server.count(), 2);
}

/// A raw HTTP/1.1 server that answers every request with headers promising 200 body bytes,
/// sends a few, and hangs up. Returns its base URL and the number of requests received.
async fn truncating_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0_u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                          Content-Length: 200\r\n\r\n{\"access_token\":\"",
                    )
                    .await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (base, requests)
}

#[tokio::test]
async fn connection_lost_mid_body_is_retried_only_when_safe() {
    let (base, requests) = truncating_server().await;
    let client = WechatClient::builder()
        .with_api_base(&base)
        .with_retry_backoff(Duration::from_millis(10))
        .build()
        .unwrap();

    // The code exchange reached WeChat: a second try could only earn 40163.
    let err = client
        .oauth2_access_token("wxA", &Secret::new("S"), "CODE")
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    // A read is safe to repeat.
    let err = client
        .sns_auth(&Secret::new("UAT"), "OPENID")
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::Transport { .. }), "{err:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn connect_failures_are_retried_even_for_code_exchanges() {
    // Nothing listens on this port, so no request ever reaches a server: retrying a code
    // exchange is safe. The attempts are counted from the client's own warn! events.
    capture_logs();

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = WechatClient::builder()
        .with_api_base(format!("http://127.0.0.1:{port}"))
        .with_retry_backoff(Duration::from_millis(5))
        .build()
        .unwrap();
    let err = client
        .jscode2session("wxM", &Secret::new("S"), "JS")
        .await
        .unwrap_err();
    assert!(matches!(err, WechatError::Transport { .. }), "{err:?}");

    let logs = captured_logs();
    let failures = logs.matches("WeChat call failed").count();
    assert_eq!(failures, 3, "{logs}");
    assert_eq!(logs.matches("retry=true").count(), 2, "{logs}");
    assert_eq!(logs.matches("retry=false").count(), 1, "{logs}");
}
