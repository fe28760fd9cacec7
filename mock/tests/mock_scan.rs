//! The mock's scan (design §6, protocol §6–§7): `POST /mock/scan` and `MockWechat::scan`
//! push `subscribe` / `SCAN` events to a push URL — signed, AES-encrypted in safe mode,
//! re-delivered like WeChat — to a real receiver on a loopback socket.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wechat_auth_mock::wire as push;
use wechat_auth_mock::{AppKind, MockApp, MockConfig, MockError, MockWechat, ScanOptions};

use receiver::{PushCrypto, PushError, PushMessage, PushQuery};

/// What a push receiver does with a delivery, built on the mock's own `wire` primitives (the
/// crate cannot use the layer's receiver; `tests/scan_login.rs` at the workspace root is
/// where the layer's independent implementation opens these pushes).
mod receiver {
    use std::collections::HashMap;

    use wechat_auth_mock::wire::{self, SafeModeKey};

    #[derive(Debug, PartialEq, Eq)]
    pub(crate) enum PushError {
        BadSignature,
        BadCrypt,
        AppIdMismatch,
        BadXml,
    }

    pub(crate) struct PushQuery(HashMap<String, String>);

    impl PushQuery {
        pub(crate) fn parse(raw: &str) -> Self {
            PushQuery(
                url::form_urlencoded::parse(raw.as_bytes())
                    .into_owned()
                    .collect(),
            )
        }

        fn get(&self, k: &str) -> &str {
            self.0.get(k).map(String::as_str).unwrap_or("")
        }
    }

    #[derive(Debug)]
    pub(crate) struct PushMessage {
        pub(crate) to_user_name: String,
        pub(crate) from_user_name: String,
        pub(crate) msg_type: String,
        pub(crate) event: Option<String>,
        pub(crate) event_key: Option<String>,
        pub(crate) ticket: Option<String>,
        pub(crate) encrypt: Option<String>,
    }

    impl PushMessage {
        pub(crate) fn parse(xml: &str) -> Result<Self, PushError> {
            if !xml.starts_with("<xml>") || !xml.ends_with("</xml>") {
                return Err(PushError::BadXml);
            }
            let f = |n| wire::xml_field(xml, n);
            Ok(PushMessage {
                to_user_name: f("ToUserName").ok_or(PushError::BadXml)?,
                from_user_name: f("FromUserName").unwrap_or_default(),
                msg_type: f("MsgType").unwrap_or_default(),
                event: f("Event"),
                event_key: f("EventKey"),
                ticket: f("Ticket"),
                encrypt: f("Encrypt"),
            })
        }

        /// The login scene of a `subscribe` (`qrscene_` prefix) or `SCAN` event.
        pub(crate) fn scan_scene(&self) -> Option<&str> {
            let key = self.event_key.as_deref()?;
            match self.event.as_deref()? {
                "subscribe" => key.strip_prefix("qrscene_"),
                "SCAN" => Some(key),
                _ => None,
            }
        }
    }

    pub(crate) struct PushCrypto {
        token: String,
        key: Option<SafeModeKey>,
        appid: String,
    }

    impl PushCrypto {
        pub(crate) fn new(token: &str, key: Option<&str>, appid: &str) -> Result<Self, PushError> {
            Ok(PushCrypto {
                token: token.to_owned(),
                key: key
                    .map(SafeModeKey::new)
                    .transpose()
                    .map_err(|_| PushError::BadCrypt)?,
                appid: appid.to_owned(),
            })
        }

        pub(crate) fn signature(&self, timestamp: &str, nonce: &str) -> String {
            wire::signature(&[&self.token, timestamp, nonce])
        }

        pub(crate) fn verify_signature(&self, sig: &str, timestamp: &str, nonce: &str) -> bool {
            self.signature(timestamp, nonce) == sig
        }

        pub(crate) fn verify_msg_signature(
            &self,
            sig: &str,
            timestamp: &str,
            nonce: &str,
            encrypt: &str,
        ) -> bool {
            wire::signature(&[&self.token, timestamp, nonce, encrypt]) == sig
        }

        pub(crate) fn decrypt(&self, encrypt: &str) -> Result<String, PushError> {
            let key = self.key.as_ref().ok_or(PushError::BadCrypt)?;
            let (msg, appid) = key.decrypt(encrypt).map_err(|_| PushError::BadCrypt)?;
            if appid != self.appid {
                return Err(PushError::AppIdMismatch);
            }
            Ok(msg)
        }

        /// Verify, decrypt when `encrypt_type=aes`, parse.
        pub(crate) fn open_post(
            &self,
            q: &PushQuery,
            body: &str,
        ) -> Result<PushMessage, PushError> {
            let (ts, nonce) = (q.get("timestamp"), q.get("nonce"));
            if !self.verify_signature(q.get("signature"), ts, nonce) {
                return Err(PushError::BadSignature);
            }
            if q.get("encrypt_type") != "aes" {
                return PushMessage::parse(body);
            }
            let encrypt = PushMessage::parse(body)?.encrypt.ok_or(PushError::BadXml)?;
            if !self.verify_msg_signature(q.get("msg_signature"), ts, nonce, &encrypt) {
                return Err(PushError::BadSignature);
            }
            PushMessage::parse(&self.decrypt(&encrypt)?)
        }
    }
}

/// A short delivery deadline so that retry tests take a second, not fifteen.
const SHORT: Duration = Duration::from_millis(300);

fn http() -> Client {
    Client::builder().no_proxy().build().unwrap()
}

/// How the receiver answers one delivery.
#[derive(Clone, Debug)]
enum Reply {
    /// Status and body, at once.
    Now(u16, &'static str),
    /// Status and body after a pause.
    After(Duration, &'static str),
    /// No answer at all (until long after any deadline).
    Never,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    raw_query: String,
    query: HashMap<String, String>,
    content_type: Option<String>,
    body: String,
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Got>>,
    replies: Mutex<VecDeque<Reply>>,
}

/// A tiny push endpoint on 127.0.0.1:0 that records every request and answers from a
/// queue of replies (then `success`).
struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
}

impl Receiver {
    async fn start() -> Self {
        let inbox = Arc::new(Inbox::default());
        let app = Router::new()
            .route("/push", post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/push", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, inbox }
    }

    fn reply(&self, replies: &[Reply]) {
        self.inbox
            .replies
            .lock()
            .unwrap()
            .extend(replies.iter().cloned());
    }

    fn got(&self) -> Vec<Got> {
        self.inbox.got.lock().unwrap().clone()
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    let raw_query = q.unwrap_or_default();
    inbox.got.lock().unwrap().push(Got {
        query: url::form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        raw_query,
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    });
    let reply = inbox
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Now(200, "success"));
    match reply {
        Reply::Now(status, body) => (AxumStatus::from_u16(status).unwrap(), body).into_response(),
        Reply::After(pause, body) => {
            tokio::time::sleep(pause).await;
            body.into_response()
        }
        Reply::Never => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "too late".into_response()
        }
    }
}

/// The mock's primary Official Account without an EncodingAESKey: plaintext pushes.
fn plaintext_config() -> MockConfig {
    MockConfig::default()
        .with_app(MockApp::default_for(AppKind::OfficialAccount).without_encoding_aes_key())
}

/// Creates a parametric QR code through the mock's own API, as the scan login does.
async fn create_qr(mock: &MockWechat, body: Value) -> Value {
    let oa = mock.official_account();
    let token: Value = http()
        .get(format!("{}/cgi-bin/token", mock.api_base()))
        .query(&[
            ("grant_type", "client_credential"),
            ("appid", oa.appid.as_str()),
            ("secret", oa.secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let qr: Value = http()
        .post(format!("{}/cgi-bin/qrcode/create", mock.api_base()))
        .query(&[("access_token", token["access_token"].as_str().unwrap())])
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(qr["ticket"].is_string(), "{qr}");
    qr
}

async fn str_qr(mock: &MockWechat, scene: &str) -> Value {
    create_qr(
        mock,
        json!({"expire_seconds": 300, "action_name": "QR_STR_SCENE",
               "action_info": {"scene": {"scene_str": scene}}}),
    )
    .await
}

/// `POST /mock/scan`, answering the status and the JSON.
async fn scan_http(mock: &MockWechat, body: Value) -> (StatusCode, Value) {
    let resp = http()
        .post(format!("{}/mock/scan", mock.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

async fn user_info(mock: &MockWechat, user: &str) -> Value {
    let oa = mock.official_account();
    let token: Value = http()
        .get(format!("{}/cgi-bin/token", mock.api_base()))
        .query(&[
            ("grant_type", "client_credential"),
            ("appid", oa.appid.as_str()),
            ("secret", oa.secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let openid = mock.user(user).unwrap().openid_for(&oa.appid);
    http()
        .get(format!("{}/cgi-bin/user/info", mock.api_base()))
        .query(&[
            ("access_token", token["access_token"].as_str().unwrap()),
            ("openid", openid.as_str()),
            ("lang", "zh_CN"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn crypto_of(mock: &MockWechat) -> PushCrypto {
    let oa = mock.official_account();
    PushCrypto::new(
        oa.token.as_deref().unwrap(),
        oa.encoding_aes_key.as_deref(),
        &oa.appid,
    )
    .unwrap()
}

#[tokio::test]
async fn plaintext_delivery_is_signed_and_is_the_event_xml() {
    let mock = MockWechat::start_with(plaintext_config()).await.unwrap();
    let rx = Receiver::start().await;
    let oa = mock.official_account().clone();
    mock.set_push_url(&oa.appid, Some(&rx.url)).unwrap();
    let qr = str_qr(&mock, "login_plain").await;

    let (status, report) = scan_http(&mock, json!({"qr_url": qr["url"], "user": "alice"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let openid = mock.user("alice").unwrap().openid_for(&oa.appid);
    assert_eq!(report["event"], "subscribe");
    assert_eq!(report["event_key"], "qrscene_login_plain");
    assert_eq!(report["openid"], openid.as_str());
    assert_eq!(report["ticket"], qr["ticket"]);
    assert_eq!(report["deliveries"], 1);
    assert_eq!(report["acknowledged"], true);
    assert_eq!(report["encrypted"], false);
    assert_eq!(report["last_status"], 200);
    assert_eq!(report["last_body"], "success");
    assert_eq!(report["push_url"], rx.url.as_str());
    assert!(report.get("last_error").is_none(), "{report}");

    let got = rx.got();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    assert_eq!(g.content_type.as_deref(), Some("text/xml;charset=UTF-8"));
    let q = &g.query;
    let crypto = PushCrypto::new(oa.token.as_deref().unwrap(), None, &oa.appid).unwrap();
    assert_eq!(
        q["signature"],
        crypto.signature(&q["timestamp"], &q["nonce"])
    );
    assert!(crypto.verify_signature(&q["signature"], &q["timestamp"], &q["nonce"]));
    assert_eq!(q["openid"], openid);
    assert!(!q.contains_key("encrypt_type") && !q.contains_key("msg_signature"));
    assert!(q["nonce"].bytes().all(|b| b.is_ascii_digit()));
    let create_time = report["create_time"].as_u64().unwrap();
    // The query's timestamp is real time (when WeChat sends), not the mock's clock.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sent: u64 = q["timestamp"].parse().unwrap();
    assert!(sent.abs_diff(now) <= 5, "timestamp {sent}, now {now}");
    // Exactly the XML WeChat sends.
    assert_eq!(
        g.body,
        push::event_xml(
            oa.original_id.as_deref().unwrap(),
            &openid,
            create_time,
            "subscribe",
            "qrscene_login_plain",
            qr["ticket"].as_str().unwrap(),
        )
    );
    // And what the scan login will do with it.
    let msg = crypto
        .open_post(&PushQuery::parse(&g.raw_query), &g.body)
        .unwrap();
    assert_eq!(msg.scan_scene(), Some("login_plain"));
    assert_eq!(msg.from_user_name, openid);
    assert_eq!(mock.calls("push"), 1);
}

#[tokio::test]
async fn safe_mode_delivery_decrypts_to_the_event() {
    let mock = MockWechat::start().await.unwrap(); // the default OA has an EncodingAESKey
    let rx = Receiver::start().await;
    let oa = mock.official_account().clone();
    mock.set_push_url(&oa.appid, Some(&rx.url)).unwrap();
    let qr = str_qr(&mock, "login_safe").await;

    let report = mock.scan(qr["url"].as_str().unwrap(), "bob").await.unwrap();
    assert!(report.encrypted && report.acknowledged);
    assert_eq!(report.event, "subscribe");

    let got = rx.got();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    let q = &g.query;
    assert_eq!(q["encrypt_type"], "aes");
    let crypto = crypto_of(&mock);
    assert!(crypto.verify_signature(&q["signature"], &q["timestamp"], &q["nonce"]));
    // The body is the safe-mode envelope: ToUserName and Encrypt only.
    let outer = PushMessage::parse(&g.body).unwrap();
    assert_eq!(outer.to_user_name, oa.original_id.clone().unwrap());
    assert_eq!(outer.msg_type, "");
    assert_eq!(outer.scan_scene(), None);
    let encrypt = outer.encrypt.clone().unwrap();
    assert_eq!(g.body, push::safe_mode_xml(&outer.to_user_name, &encrypt));
    assert!(crypto.verify_msg_signature(
        &q["msg_signature"],
        &q["timestamp"],
        &q["nonce"],
        &encrypt
    ));
    assert!(!crypto.verify_msg_signature(&q["signature"], &q["timestamp"], &q["nonce"], &encrypt));
    let openid = mock.user("bob").unwrap().openid_for(&oa.appid);
    assert_eq!(
        crypto.decrypt(&encrypt).unwrap(),
        push::event_xml(
            oa.original_id.as_deref().unwrap(),
            &openid,
            report.create_time,
            "subscribe",
            "qrscene_login_safe",
            qr["ticket"].as_str().unwrap(),
        )
    );
    // The appid inside is checked: another app's crypto refuses it.
    let other = PushCrypto::new(
        oa.token.as_deref().unwrap(),
        oa.encoding_aes_key.as_deref(),
        "wx9999999999999999",
    )
    .unwrap();
    assert_eq!(other.decrypt(&encrypt), Err(PushError::AppIdMismatch));
    // The receiver's whole path: verify, decrypt, parse.
    let msg = crypto
        .open_post(&PushQuery::parse(&g.raw_query), &g.body)
        .unwrap();
    assert_eq!(msg.scan_scene(), Some("login_safe"));
    assert_eq!(msg.ticket.as_deref(), qr["ticket"].as_str());
}

#[tokio::test]
async fn subscribe_then_scan_and_follow_state() {
    let mock = MockWechat::start_with(MockConfig::default().subscribed_user("carol"))
        .await
        .unwrap();
    let rx = Receiver::start().await;
    mock.set_push_url(&mock.official_account().appid, Some(&rx.url))
        .unwrap();

    // alice does not follow: subscribe, and she follows from now on.
    let before = user_info(&mock, "alice").await;
    assert_eq!(before["subscribe"], 0, "{before}");
    let qr = str_qr(&mock, "login_follow").await;
    let first = mock
        .scan(qr["ticket"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    assert_eq!(
        (first.event.as_str(), first.event_key.as_str()),
        ("subscribe", "qrscene_login_follow")
    );
    assert!(mock.is_subscribed("alice"));
    let info = user_info(&mock, "alice").await;
    assert_eq!(info["subscribe"], 1, "{info}");
    assert_eq!(info["subscribe_scene"], "ADD_SCENE_QR_CODE");
    assert_eq!(info["qr_scene_str"], "login_follow");
    assert_eq!(info["qr_scene"], 0);

    // Scanning again as a follower: SCAN with the bare scene.
    let second = mock
        .scan(qr["url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    assert_eq!(
        (second.event.as_str(), second.event_key.as_str()),
        ("SCAN", "login_follow")
    );
    let crypto = crypto_of(&mock);
    let got = rx.got();
    let inner = PushMessage::parse(
        &crypto
            .decrypt(&PushMessage::parse(&got[1].body).unwrap().encrypt.unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(inner.event.as_deref(), Some("SCAN"));
    assert_eq!(inner.scan_scene(), Some("login_follow"));

    // carol follows from the start (config): SCAN at once; the follow keeps its origin.
    let carol = mock
        .scan(qr["ticket"].as_str().unwrap(), "carol")
        .await
        .unwrap();
    assert_eq!(carol.event, "SCAN");
    assert_eq!(
        user_info(&mock, "carol").await["subscribe_scene"],
        "ADD_SCENE_OTHERS"
    );

    // Integer scenes: qrscene_123 / 123, and user/info's qr_scene.
    let int_qr = create_qr(
        &mock,
        json!({"expire_seconds": 300, "action_name": "QR_SCENE",
               "action_info": {"scene": {"scene_id": 123}}}),
    )
    .await;
    let bob = mock
        .scan(int_qr["url"].as_str().unwrap(), "bob")
        .await
        .unwrap();
    assert_eq!(
        (bob.event.as_str(), bob.event_key.as_str()),
        ("subscribe", "qrscene_123")
    );
    let info = user_info(&mock, "bob").await;
    assert_eq!(
        (info["qr_scene"].clone(), info["qr_scene_str"].clone()),
        (json!(123), json!(""))
    );

    // The override: a follower told "not subscribed" re-follows (subscribe); a stranger told
    // "subscribed" is a follower (SCAN) and stays one.
    let (_, refollow) = scan_http(
        &mock,
        json!({"ticket": qr["ticket"], "user": "alice", "subscribed": false}),
    )
    .await;
    assert_eq!(refollow["event"], "subscribe");
    let dave = MockWechat::start_with(MockConfig::default().with_user("dave", "戴夫"))
        .await
        .unwrap();
    dave.set_push_url(&dave.official_account().appid, Some(&rx.url))
        .unwrap();
    let dqr = str_qr(&dave, "login_dave").await;
    let report = dave
        .scan_with(
            dqr["url"].as_str().unwrap(),
            "dave",
            ScanOptions::new().subscribed(true),
        )
        .await
        .unwrap();
    assert_eq!(
        (report.event.as_str(), report.event_key.as_str()),
        ("SCAN", "login_dave")
    );
    assert!(dave.is_subscribed("dave"));
}

#[tokio::test]
async fn no_answer_means_three_identical_deliveries() {
    let mock = MockWechat::start_with(MockConfig::default().push_timeout(SHORT))
        .await
        .unwrap();
    let rx = Receiver::start().await;
    mock.set_push_url(&mock.official_account().appid, Some(&rx.url))
        .unwrap();
    let qr = str_qr(&mock, "login_silent").await;
    rx.reply(&[Reply::Never, Reply::Never, Reply::Never]);

    let started = std::time::Instant::now();
    let (status, report) = scan_http(&mock, json!({"qr_url": qr["url"], "user": "alice"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["deliveries"], 3);
    assert_eq!(report["acknowledged"], false);
    assert!(report.get("last_status").is_none(), "{report}");
    assert!(
        report["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within 300 ms"),
        "{report}"
    );
    assert!(started.elapsed() >= SHORT * 3, "{:?}", started.elapsed());
    let got = rx.got();
    assert_eq!(got.len(), 3);
    for g in &got[1..] {
        assert_eq!(
            g.body, got[0].body,
            "the same XML, same CreateTime, same ciphertext"
        );
        assert_eq!(g.raw_query, got[0].raw_query);
    }
    assert_eq!(mock.calls("push"), 3);
}

#[tokio::test]
async fn bad_answers_are_retried_and_good_ones_are_not() {
    let mock = MockWechat::start_with(plaintext_config().push_timeout(SHORT))
        .await
        .unwrap();
    let rx = Receiver::start().await;
    mock.set_push_url(&mock.official_account().appid, Some(&rx.url))
        .unwrap();
    let qr = str_qr(&mock, "login_retry").await;
    let url = qr["url"].as_str().unwrap();

    // `fail` three times: three deliveries of the same body, not acknowledged.
    rx.reply(&[
        Reply::Now(200, "fail"),
        Reply::Now(200, "fail"),
        Reply::Now(200, "fail"),
    ]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!((r.deliveries, r.acknowledged), (3, false));
    assert_eq!(
        (r.last_status, r.last_body.as_deref()),
        (Some(200), Some("fail"))
    );
    let got = rx.got();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|g| g.body == got[0].body));
    assert_eq!(
        PushMessage::parse(&got[0].body).unwrap().event.as_deref(),
        Some("subscribe")
    );

    // A 500, junk JSON, then success: three deliveries, acknowledged by the last.
    rx.reply(&[Reply::Now(500, "success"), Reply::Now(200, "{\"ok\":true}")]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!(
        (r.deliveries, r.acknowledged, r.last_body.as_deref()),
        (3, true, Some("success"))
    );

    // `success` at once: one delivery.
    let before = mock.calls("push");
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!((r.deliveries, r.acknowledged), (1, true));
    assert_eq!(mock.calls("push"), before + 1);

    // An empty body is an answer too; so is a passive reply XML.
    rx.reply(&[Reply::Now(200, "")]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!(
        (r.deliveries, r.acknowledged, r.last_body.as_deref()),
        (1, true, Some(""))
    );
    // A passive reply must be addressed back: To the user, From the account (§16.1).
    let oa = mock.official_account();
    let openid = mock.user("alice").unwrap().openid_for(&oa.appid);
    let gh = oa.original_id.clone().unwrap();
    let reply = |to: &str, from: &str| {
        format!(
            "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
             <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
        )
    };
    rx.reply(&[Reply::Now(
        200,
        Box::leak(reply(&openid, &gh).into_boxed_str()),
    )]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!((r.deliveries, r.acknowledged), (1, true));
    assert_eq!(r.reply.as_deref(), Some("hi"));
    // Echoed unswapped (a common bug): WeChat shows 该公众号暂时无法提供服务, and re-sends.
    rx.reply(&[Reply::Now(
        200,
        Box::leak(reply(&gh, &openid).into_boxed_str()),
    )]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!((r.deliveries, r.acknowledged), (2, true));

    // One failure, then success: two deliveries.
    rx.reply(&[Reply::Now(200, "fail")]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!((r.deliveries, r.acknowledged), (2, true));
}

#[tokio::test]
async fn slow_receivers_are_retried() {
    let mock = MockWechat::start_with(MockConfig::default().push_timeout(SHORT))
        .await
        .unwrap();
    let rx = Receiver::start().await;
    mock.set_push_url(&mock.official_account().appid, Some(&rx.url))
        .unwrap();
    let qr = str_qr(&mock, "login_slow").await;
    let url = qr["url"].as_str().unwrap();

    // Too slow once (the answer would come after the deadline), then quick.
    rx.reply(&[Reply::After(SHORT * 2, "success")]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!((r.deliveries, r.acknowledged), (2, true));
    assert_eq!(r.last_error, None);

    // Too slow every time: three deliveries, no acknowledgement.
    let slow = Reply::After(SHORT * 2, "success");
    rx.reply(&[slow.clone(), slow.clone(), slow]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!((r.deliveries, r.acknowledged), (3, false));
    assert!(r.last_error.unwrap().contains("no answer"));

    // Slow but in time: one delivery.
    rx.reply(&[Reply::After(SHORT / 4, "success")]);
    let r = mock.scan(url, "alice").await.unwrap();
    assert_eq!((r.deliveries, r.acknowledged), (1, true));
}

#[tokio::test]
async fn expired_code_is_410_and_pushes_nothing() {
    let mock = MockWechat::start().await.unwrap();
    let rx = Receiver::start().await;
    mock.set_push_url(&mock.official_account().appid, Some(&rx.url))
        .unwrap();
    let qr = create_qr(
        &mock,
        json!({"expire_seconds": 60, "action_name": "QR_STR_SCENE",
               "action_info": {"scene": {"scene_str": "login_old"}}}),
    )
    .await;
    mock.advance(Duration::from_secs(61));

    let (status, body) = scan_http(&mock, json!({"qr_url": qr["url"], "user": "alice"})).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("二维码已过期"),
        "{body}"
    );
    let (status, _) = scan_http(&mock, json!({"ticket": qr["ticket"], "user": "alice"})).await;
    assert_eq!(status, StatusCode::GONE);
    let (status, _) = scan_http(&mock, json!({"scene": "login_old", "user": "alice"})).await;
    assert_eq!(status, StatusCode::GONE);
    let err = mock
        .scan(qr["url"].as_str().unwrap(), "alice")
        .await
        .unwrap_err();
    assert!(matches!(err, MockError::ExpiredTicket(_)), "{err}");

    assert!(rx.got().is_empty());
    assert_eq!(mock.calls("push"), 0);
    assert!(
        !mock.is_subscribed("alice"),
        "no follow through an expired code"
    );
}

#[tokio::test]
async fn unknown_codes_and_bad_requests() {
    let mock = MockWechat::start().await.unwrap();
    let rx = Receiver::start().await;

    let (status, body) = scan_http(
        &mock,
        json!({"qr_url": "http://weixin.qq.com/q/02nosuchcode", "user": "alice"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].is_string());
    let (status, _) = scan_http(
        &mock,
        json!({"ticket": "gQH47joAAAAAAAAAASxodHRw", "user": "alice"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = scan_http(&mock, json!({"scene": 424242, "user": "alice"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(matches!(
        mock.scan("gQH47joAAAAAAAAAASxodHRw", "alice").await,
        Err(MockError::UnknownTicket(_))
    ));

    let qr = str_qr(&mock, "login_bad").await;
    // No push URL anywhere: 400 naming the ways to set one.
    let (status, body) = scan_http(&mock, json!({"qr_url": qr["url"], "user": "alice"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("no push URL") && msg.contains("set_push_url"),
        "{msg}"
    );
    assert!(matches!(
        mock.scan(qr["url"].as_str().unwrap(), "alice").await,
        Err(MockError::NoPushUrl(_))
    ));
    // Misuse.
    for bad in [
        json!({"qr_url": qr["url"], "ticket": qr["ticket"], "user": "alice"}),
        json!({"user": "alice"}),
        json!({"qr_url": qr["url"]}),
        json!({"qr_url": qr["url"], "user": "nobody", "push_url": rx.url}),
        json!({"qr_url": qr["url"], "user": "alice", "push_url": "ftp://x/push"}),
        json!({"qr_url": qr["url"], "user": "alice", "push_url": rx.url, "extra": 1}),
        json!({"scene": [1], "user": "alice", "push_url": rx.url}),
    ] {
        let (status, body) = scan_http(&mock, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
        assert!(body["error"].is_string());
    }
    assert!(rx.got().is_empty());
    assert!(!mock.is_subscribed("alice"));
}

#[tokio::test]
async fn scene_lookup_push_url_override_and_control() {
    let mock = MockWechat::start().await.unwrap();
    let stored = Receiver::start().await;
    let other = Receiver::start().await;

    // POST /mock/push_url sets it; /mock/config shows it.
    let resp = http()
        .post(format!("{}/mock/push_url", mock.url()))
        .json(&json!({"push_url": stored.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let oa = mock.official_account().appid.clone();
    assert_eq!(mock.push_url(&oa).as_deref(), Some(stored.url.as_str()));
    let cfg: Value = http()
        .get(format!("{}/mock/config", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oa_cfg = cfg["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appid"] == oa.as_str())
        .unwrap();
    assert_eq!(oa_cfg["push_url"], stored.url.as_str());

    // By scene, string and number.
    str_qr(&mock, "login_by_scene").await;
    let (status, r) = scan_http(&mock, json!({"scene": "login_by_scene", "user": "bob"})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["event_key"], "qrscene_login_by_scene");
    create_qr(
        &mock,
        json!({"expire_seconds": 300, "action_name": "QR_SCENE",
               "action_info": {"scene": {"scene_id": 77}}}),
    )
    .await;
    let (status, r) = scan_http(&mock, json!({"scene": 77, "user": "bob"})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (r["event"].clone(), r["event_key"].clone()),
        (json!("SCAN"), json!("77"))
    );
    assert_eq!(stored.got().len(), 2);

    // push_url in the request wins, for that scan only.
    let (_, r) = scan_http(
        &mock,
        json!({"scene": 77, "user": "bob", "push_url": other.url}),
    )
    .await;
    assert_eq!(r["push_url"], other.url.as_str());
    assert_eq!((stored.got().len(), other.got().len()), (2, 1));
    assert_eq!(mock.push_url(&oa).as_deref(), Some(stored.url.as_str()));

    // Clearing it, and refusing a non-OA appid.
    let resp = http()
        .post(format!("{}/mock/push_url", mock.url()))
        .json(&json!({"push_url": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(mock.push_url(&oa), None);
    let resp = http()
        .post(format!("{}/mock/push_url", mock.url()))
        .json(&json!({"appid": mock.website().appid, "push_url": stored.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn nobody_listening_is_three_failed_deliveries() {
    let mock = MockWechat::start_with(MockConfig::default().push_timeout(SHORT))
        .await
        .unwrap();
    // A port that was free a moment ago: connections are refused.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/push", l.local_addr().unwrap())
    };
    let qr = str_qr(&mock, "login_dead").await;
    let r = mock
        .scan_with(
            qr["url"].as_str().unwrap(),
            "alice",
            ScanOptions::new().push_url(dead),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.deliveries, r.acknowledged, r.last_status),
        (3, false, None)
    );
    assert!(r.last_error.unwrap().contains("cannot connect"));
    assert_eq!(mock.calls("push"), 3);
    // The user followed anyway: WeChat's side of the scan happened.
    assert!(mock.is_subscribed("alice"));
}

#[tokio::test]
async fn zero_push_timeout_is_refused() {
    let err = MockWechat::start_with(MockConfig::default().push_timeout(Duration::ZERO))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
