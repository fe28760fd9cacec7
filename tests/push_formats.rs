//! Every push format the Official Account console offers: XML and JSON (数据格式), plain,
//! compatible and safe mode (消息加解密方式). The official JSON vectors of the protocol
//! addendum (§15.2–§15.4), then scan login end to end in each combination, the mock WeChat
//! writing and judging the pushes with its own, independent code.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use wechat_auth::{
    mock::{AppKind, MockApp, MockConfig, MockWechat, PushFormat, PushMode, wire},
    push::{PushCrypto, PushError, PushFormat as Format, PushMessage, PushQuery},
};

const TOKEN: &str = "AAAAA";
const APPID: &str = "wxba5fad812f8e6fb9";
const ENCRYPT_15_3: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";

fn aes() -> String {
    "A".repeat(43)
}

#[test]
fn official_plaintext_json_vector_15_2() {
    let c = PushCrypto::new(TOKEN, None, APPID).unwrap();
    let q = PushQuery::parse(
        "signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059&nonce=486452656",
    );
    // Pretty-printed, as the doc prints it.
    let body = "{\n    \"ToUserName\": \"gh_97417a04a28d\",\n    \"FromUserName\": \"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\",\n    \"CreateTime\": 1714037059,\n    \"MsgType\": \"event\",\n    \"Event\": \"debug_demo\",\n    \"debug_str\": \"hello world\"\n}";
    assert_eq!(
        Format::sniff(Some("application/json"), body.as_bytes()),
        Format::Json
    );
    let opened = c.open(&q, Format::Json, body).unwrap();
    assert!(!opened.encrypted);
    let m = &opened.message;
    assert_eq!(m.to_user_name, "gh_97417a04a28d");
    assert_eq!(m.from_user_name, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
    assert_eq!(m.create_time, 1714037059);
    assert_eq!(
        (m.msg_type.as_str(), m.event.as_deref()),
        ("event", Some("debug_demo"))
    );
    assert!(opened.document.contains("\"debug_str\": \"hello world\""));
    // Sniffed without a Content-Type, too.
    assert_eq!(
        c.open_post(&q, body).unwrap().event.as_deref(),
        Some("debug_demo")
    );
}

#[test]
fn official_safe_mode_json_vector_15_3() {
    let c = PushCrypto::new(TOKEN, Some(&aes()), APPID).unwrap();
    let q = PushQuery::parse(
        "signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670741\
         &openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes\
         &msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
    );
    let body = format!(
        "{{\n    \"ToUserName\": \"gh_97417a04a28d\",\n    \"Encrypt\": \"{ENCRYPT_15_3}\"\n}}"
    );
    let opened = c.open(&q, Format::Json, &body).unwrap();
    assert!(opened.encrypted);
    assert_eq!(
        opened.document,
        r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#
    );
    assert_eq!(opened.message.create_time, 1714112445);
    assert_eq!(opened.message.event.as_deref(), Some("debug_demo"));
    // msg_signature is what authenticates: the URL signature alone is not enough.
    let tampered = PushQuery::parse(
        "signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670741\
         &encrypt_type=aes&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b4",
    );
    assert_eq!(
        c.open(&tampered, Format::Json, &body).unwrap_err(),
        PushError::BadSignature
    );
    // Another appid's key holder cannot read it as theirs.
    let other = PushCrypto::new(TOKEN, Some(&aes()), "wx0000000000000009").unwrap();
    assert_eq!(
        other.open(&q, Format::Json, &body).unwrap_err(),
        PushError::AppIdMismatch
    );
}

#[test]
fn official_encrypted_json_reply_vector_15_4() {
    let c = PushCrypto::new(TOKEN, Some(&aes()), APPID).unwrap();
    // The doc's reply: decrypts to its dummy object, signed over its own TimeStamp/Nonce.
    let encrypt =
        "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==";
    assert_eq!(c.decrypt(encrypt).unwrap(), r#"{"demo_resp":"good luck"}"#);
    assert_eq!(
        c.encrypt(r#"{"demo_resp":"good luck"}"#, *b"707722b803182950")
            .unwrap(),
        encrypt
    );
    assert_eq!(
        c.msg_signature("1713424427", "415670741", encrypt),
        "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
    );
    // The companion text-reply vector.
    let msg = r#"{"ToUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","FromUserName":"gh_97417a04a28d","CreateTime":1714112446,"MsgType":"text","Content":"hi"}"#;
    let sealed = c.encrypt(msg, *b"0123456789abcdef").unwrap();
    assert_eq!(
        sealed,
        "uMMzGtqcnpOzXOYBwDQNrTpmkrIvUlDgjRULo4O/Ttr4SM9X2KEiDFwoLZeTJD+qqKiytOCvkRzXty722v4nMzUa8tEYCA7IY66soDHBiRNIZ2ZK1seVG4pCBJMX2t6A41S/1woAUDguINS0hfYhsM4RfuXmSeLy7pnDLsWcfZgV7ER3Ea0aqvwwn0QuJkGzyyXR9VJhqjyJHBPk3y24a82FnnyioDBC5RxItqvyIOucziMl7yNg77/fUFPhOVpz"
    );
    assert_eq!(
        c.msg_signature("1714112446", "415670741", &sealed),
        "7ede7be66bce51e78c61050df72197cca5fb8807"
    );
    // The layer's envelope, opened with the mock's independent crypto.
    let envelope = c
        .seal_reply(Format::Json, msg, "1714112446", "415670741")
        .unwrap();
    let key = wire::SafeModeKey::new(&aes()).unwrap();
    let e = wire::json_field(&envelope, "Encrypt").unwrap();
    assert_eq!(
        wire::json_field(&envelope, "TimeStamp").unwrap(),
        "1714112446"
    );
    assert_eq!(
        wire::json_field(&envelope, "MsgSignature").unwrap(),
        wire::signature(&[TOKEN, "1714112446", "415670741", &e])
    );
    assert_eq!(key.decrypt(&e).unwrap(), (msg.to_owned(), APPID.to_owned()));
    let xml = c
        .seal_reply(Format::Xml, msg, "1714112446", "415670741")
        .unwrap();
    let e = wire::xml_field(&xml, "Encrypt").unwrap();
    assert_eq!(key.decrypt(&e).unwrap().0, msg);
}

#[test]
fn compatible_mode_without_a_key_reads_the_plain_fields() {
    let c = PushCrypto::new("mocktoken", None, "wx1").unwrap();
    let plain = wire::event_xml("gh_1", "oU", 1700000000, "SCAN", "x", "T");
    let body = wire::compatible_body(&plain, "QUJDRA==");
    let q = PushQuery::parse(&format!(
        "signature={}&timestamp=1700000000&nonce=5&encrypt_type=aes&msg_signature=00",
        wire::signature(&["mocktoken", "1700000000", "5"])
    ));
    let opened = c.open(&q, Format::Xml, &body).unwrap();
    assert!(
        !opened.encrypted,
        "read from the plain fields, replied in plain"
    );
    assert_eq!(opened.message.scan_scene(), Some("x"));
    // A safe-mode body (nothing plain) still needs the key.
    let safe = wire::safe_mode_xml("gh_1", "QUJDRA==");
    assert_eq!(
        c.open(&q, Format::Xml, &safe).unwrap_err(),
        PushError::NoAesKey
    );
    // JSON compatible body too.
    let json = wire::compatible_body(
        &wire::event_json("gh_1", "oU", 1700000000, "SCAN", "x", "T"),
        "QUJDRA==",
    );
    assert_eq!(
        c.open(&q, Format::Json, &json)
            .unwrap()
            .message
            .scan_scene(),
        Some("x")
    );
}

/// Scan login end to end in one format and mode: the mock pushes, the layer confirms and
/// answers with a passive reply in the same format (sealed when the push was), which the
/// mock's own code accepts.
async fn scan_login_in(format: PushFormat, mode: PushMode, layer_has_key: bool) {
    let oa = if mode == PushMode::Plain {
        MockApp::default_for(AppKind::OfficialAccount).without_encoding_aes_key()
    } else {
        MockApp::default_for(AppKind::OfficialAccount)
    };
    let mock = MockWechat::start_with(MockConfig::new().with_app(oa))
        .await
        .unwrap();
    mock.set_push_format(format, mode).unwrap();
    let o = mock.official_account();
    let mut cfg = config(&mock);
    if !layer_has_key {
        cfg = cfg
            .with_oa_push(o.token.clone().unwrap(), None)
            .with_insecure_plaintext_push(true);
    }
    let app = start(cfg).await;
    wire(&mock, &app);
    let b = browser();
    let s: serde_json::Value = b
        .post(format!("{}/auth/wechat/scan", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let what = format!("{format:?}/{mode:?}/key={layer_has_key}");
    assert!(report.acknowledged, "{what}: {report:?}");
    assert_eq!(report.deliveries, 1, "{what}");
    assert_eq!(report.encrypted, mode != PushMode::Plain, "{what}");
    let reply = report
        .reply
        .unwrap_or_else(|| panic!("{what}: a passive reply"));
    assert!(reply.contains("您已扫码登录"), "{what}: {reply}");
    let body = report.last_body.unwrap();
    match format {
        PushFormat::Json => assert!(body.starts_with('{'), "{what}: {body}"),
        _ => assert!(body.starts_with("<xml>"), "{what}: {body}"),
    }
    let sealed = body.contains("Encrypt");
    assert_eq!(
        sealed,
        mode == PushMode::Safe || (mode == PushMode::Compatible && layer_has_key),
        "{what}: replies are sealed exactly when the push was read encrypted"
    );
    let res = b
        .get(format!(
            "{}/auth/wechat/scan/{}?wait=5",
            app.url,
            s["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert!(session_token(&res).is_some(), "{what}");
}

#[tokio::test]
async fn scan_login_in_every_format_and_mode() {
    for format in [PushFormat::Xml, PushFormat::Json] {
        scan_login_in(format, PushMode::Plain, false).await;
        scan_login_in(format, PushMode::Compatible, true).await;
        scan_login_in(format, PushMode::Compatible, false).await;
        scan_login_in(format, PushMode::Safe, true).await;
    }
}

/// A log writer the test can read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A push that decrypts but does not parse is refused without its body reaching the answer,
/// an error or a log line (issue 15, item 1).
#[tokio::test(flavor = "current_thread")]
async fn a_push_that_fails_to_parse_never_logs_its_decrypted_body() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let o = mock.official_account();
    let key = wire::SafeModeKey::new(o.encoding_aes_key.as_deref().unwrap()).unwrap();
    let token = o.token.clone().unwrap();
    let secret = "SECRET-DIARY-ENTRY-42";
    let cases = [
        (
            "application/json",
            format!(r#"{{"ToUserName":"gh_1","CreateTime":"{secret}"}}"#),
        ),
        ("application/json", format!(r#"{{"ToUserName": {secret}}}"#)),
        (
            "text/xml",
            format!("<xml><ToUserName>gh_1</ToUserName><CreateTime>{secret}</CreateTime></xml>"),
        ),
        (
            "text/xml",
            format!("<xml><ToUserName>&{secret};</ToUserName></xml>"),
        ),
    ];
    let http = reqwest::Client::new();
    for (i, (content_type, doc)) in cases.iter().enumerate() {
        let encrypt = key.encrypt(rand_bytes(i), doc, &o.appid);
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let nonce = format!("77{i}");
        let body = if content_type.contains("json") {
            wire::safe_mode_json("gh_1", &encrypt)
        } else {
            wire::safe_mode_xml("gh_1", &encrypt)
        };
        let res = http
            .post(format!("{}/auth/wechat/push", app.url))
            .query(&[
                ("signature", wire::signature(&[&token, &ts, &nonce])),
                ("timestamp", ts.clone()),
                ("nonce", nonce.clone()),
                ("encrypt_type", "aes".into()),
                (
                    "msg_signature",
                    wire::signature(&[&token, &ts, &nonce, &encrypt]),
                ),
            ])
            .header("content-type", *content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "case {i}");
        assert!(!res.text().await.unwrap().contains(secret), "case {i}");
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.matches("push refused").count() >= cases.len(),
        "{logs}"
    );
    assert!(
        logs.contains("数据格式"),
        "says which setting to check: {logs}"
    );
    assert!(
        !logs.contains(secret),
        "the decrypted body leaked into a log line: {logs}"
    );
    // And the typed errors say nothing of it either.
    for (_, doc) in &cases {
        for f in [Format::Json, Format::Xml] {
            if let Err(e) = PushMessage::parse_as(f, doc) {
                assert!(!e.to_string().contains(secret), "{e}");
                assert!(!format!("{e:?}").contains(secret), "{e:?}");
            }
        }
    }
}

fn rand_bytes(i: usize) -> [u8; 16] {
    let mut r = *b"0123456789abcdef";
    r[0] = b'a' + (i as u8);
    r
}
