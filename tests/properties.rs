//! Property tests: generated inputs for every parser that faces the outside — push XML and
//! JSON, push query strings, cookies, session tokens (JWTs), state tickets, `return_to`, EncodingAESKeys,
//! SDK request bodies and WeChat's JSON answers. Laws: nothing panics, nothing answers 5xx or
//! sets a session it should not, and round trips hold where they exist (encrypt → decrypt,
//! write → parse, a checked `return_to` is a fixed point).
//!
//! The HTTP properties drive the real layer as a tower service (no sockets, no WeChat: the
//! API bases point at a closed port), so the default case counts run in seconds.

mod common;

use axum::{Router, body::Body};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use tower::ServiceExt as _;
use wechat_auth::{
    WechatAuthLayer, WechatConfig,
    client::{GlobalToken, MiniSession, OAuthToken, OaUserInfo, UserInfo},
    mock::wire as mock_wire,
    push::{PushCrypto, PushFormat, PushMessage, PushQuery},
};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// The layer over the common routes, WeChat unreachable (port 9 on loopback is closed);
/// built once and shared by every case.
fn app() -> Router {
    static APP: std::sync::OnceLock<Router> = std::sync::OnceLock::new();
    APP.get_or_init(build_app).clone()
}

fn build_app() -> Router {
    let dead = "http://127.0.0.1:9";
    let cfg = WechatConfig::builder()
        .with_public_url("http://localhost:3000")
        .with_session_secret(common::SECRET)
        .with_wechat_bases(dead, dead, dead)
        .with_website_app("wx_site_0000000001", "site-secret")
        .with_official_account("wx_oa_000000000001", "oa-secret")
        .with_oa_push("pushtoken", Some(KEY))
        .with_mobile_app("wx_mobile_00000001", "mobile-secret")
        .with_mini_program("wx_mini_0000000001", "mini-secret")
        .with_public_path("/")
        .with_http_timeout(std::time::Duration::from_secs(1))
        .build()
        .unwrap();
    common::routes().layer(WechatAuthLayer::new(cfg))
}

/// One runtime for every case (the layer's background work lives on it).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}

async fn call(app: &Router, req: Request<Body>) -> (Response<()>, Vec<u8>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (Response::from_parts(parts, ()), bytes)
}

fn sets_session(res: &Response<()>) -> bool {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("wechat_session=") && !c.starts_with("wechat_session=;"))
}

/// The `rt` claim of the state cookie a login start set.
fn state_return_to(res: &Response<()>) -> Option<String> {
    use base64::Engine as _;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("wechat_state_"))?;
    let value = cookie.split(';').next()?.split_once('=')?.1;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.split('.').nth(1)?)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&payload).ok()?["rt"]
        .as_str()
        .map(str::to_owned)
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    // Visible ASCII, spaces, tabs and high bytes (obs-text): what a header value may carry.
    prop::collection::vec(
        prop_oneof![0x20_u8..0x7f, Just(b'\t'), 0x80_u8..=0xff],
        0..600,
    )
}

/// JSON-ish text from the pieces a push is made of, the keys it reads among them: nesting,
/// duplicate keys, numbers of every size and form, wrong types, truncation.
fn json_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"ToUserName\":".to_owned()),
            Just("\"Encrypt\":".to_owned()),
            Just("\"FromUserName\":".to_owned()),
            Just("\"CreateTime\":".to_owned()),
            Just("\"MsgId\":".to_owned()),
            Just("\"EventKey\":".to_owned()),
            Just("\"MsgType\":".to_owned()),
            Just("\"Event\":".to_owned()),
            Just("1e400".to_owned()),
            Just("-0".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("-1".to_owned()),
            Just("1.5".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("\"\\ud800\"".to_owned()),
            Just("\"\\u0000\"".to_owned()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            "\"[a-zA-Z0-9_ \\\\\"]{0,10}\"",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// A whole JSON object of push fields with values of any type (duplicates allowed).
fn json_object() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("ToUserName"),
        Just("Encrypt"),
        Just("FromUserName"),
        Just("CreateTime"),
        Just("MsgType"),
        Just("Event"),
        Just("EventKey"),
        Just("Ticket"),
        Just("MsgId"),
        Just("Other"),
    ];
    let value = prop_oneof![
        ".{0,20}".prop_map(|s| serde_json::Value::String(s).to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| serde_json::json!(f).to_string()),
        Just("1e400".to_owned()),
        Just("null".to_owned()),
        Just("[1,{\"a\":[]}]".to_owned()),
        Just("{\"x\":{}}".to_owned()),
        (1_usize..300).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d))),
    ];
    prop::collection::vec((key, value), 0..12).prop_map(|fields| {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    })
}

fn jwt_like() -> impl Strategy<Value = String> {
    let part = "[A-Za-z0-9_-]{0,80}";
    (part, part, part).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn push_xml_never_panics(xml in ".{0,400}") {
        let _ = PushMessage::parse(&xml);
    }

    #[test]
    fn push_xml_with_tags_never_panics(
        parts in prop::collection::vec(prop_oneof![
            Just("<xml>".to_owned()), Just("</xml>".to_owned()),
            Just("<ToUserName>".to_owned()), Just("</ToUserName>".to_owned()),
            Just("<Encrypt><![CDATA[".to_owned()), Just("]]></Encrypt>".to_owned()),
            Just("<CreateTime>".to_owned()), Just("</CreateTime>".to_owned()),
            Just("<!DOCTYPE x [<!ENTITY e \"ee\">]>".to_owned()), Just("&e;".to_owned()),
            Just("<![CDATA[".to_owned()), Just("]]>".to_owned()),
            "[a-z0-9 &<>;]{0,12}",
        ], 0..24)
    ) {
        let _ = PushMessage::parse(&parts.concat());
    }

    #[test]
    fn event_xml_round_trips(
        to in "gh_[0-9a-f]{12}",
        from in "o[A-Za-z0-9_-]{27}",
        time in 0_u64..4_000_000_000,
        event in prop_oneof![Just("subscribe"), Just("SCAN"), Just("unsubscribe")],
        key in "[A-Za-z0-9_\\]<>&]{0,40}",
        ticket in "[A-Za-z0-9+/=]{0,60}",
    ) {
        let msg = PushMessage::parse(&mock_wire::event_xml(&to, &from, time, event, &key, &ticket)).unwrap();
        prop_assert_eq!(&msg.to_user_name, &to);
        prop_assert_eq!(&msg.from_user_name, &from);
        prop_assert_eq!(msg.create_time, time);
        prop_assert_eq!(msg.event.as_deref(), Some(event));
        prop_assert_eq!(msg.event_key.unwrap_or_default(), key);
        prop_assert_eq!(msg.ticket.unwrap_or_default(), ticket);
    }

    #[test]
    fn push_json_never_panics(text in ".{0,400}", soup in json_soup(), object in json_object()) {
        for json in [&text, &soup, &object] {
            let read = PushMessage::parse_json(json);
            // The two entry points agree, and what is read has what a push must have.
            prop_assert_eq!(read.is_ok(), PushMessage::parse_as(PushFormat::Json, json).is_ok());
            if let Ok(msg) = read {
                prop_assert!(!msg.to_user_name.is_empty() || msg.encrypt.is_some(), "{}", json);
                let _ = (msg.scan_scene(), msg.dedupe_key(), msg.is_event());
            }
        }
    }

    #[test]
    fn the_mocks_json_writers_round_trip_through_the_layers_reader(
        to in "gh_[0-9a-f]{12}",
        // Any text: quotes, backslashes, control characters, non-BMP characters.
        from in "\\PC{1,30}|[\"\\\\\\x00-\\x1f]{1,8}",
        time in any::<u64>(),
        event in prop_oneof![Just("subscribe"), Just("SCAN"), Just("unsubscribe")],
        key in ".{0,40}",
        ticket in "[A-Za-z0-9+/=]{0,60}",
        content in ".{0,80}",
        msg_id in any::<u64>(),
        encrypt in "[A-Za-z0-9+/=]{1,200}",
    ) {
        let msg = PushMessage::parse_json(&mock_wire::event_json(&to, &from, time, event, &key, &ticket)).unwrap();
        prop_assert_eq!(&msg.to_user_name, &to);
        prop_assert_eq!(&msg.from_user_name, &from);
        prop_assert_eq!(msg.create_time, time);
        prop_assert_eq!(msg.msg_type.as_str(), "event");
        prop_assert_eq!(msg.event.as_deref(), Some(event));
        prop_assert_eq!(msg.event_key.unwrap_or_default(), key);
        prop_assert_eq!(msg.ticket.unwrap_or_default(), ticket);

        let msg = PushMessage::parse_json(&mock_wire::text_message_json(&to, &from, time, &content, msg_id)).unwrap();
        prop_assert_eq!(&msg.from_user_name, &from);
        prop_assert_eq!(msg.msg_type.as_str(), "text");
        prop_assert_eq!(msg.msg_id, Some(msg_id));
        prop_assert!(!msg.is_event());

        let msg = PushMessage::parse_json(&mock_wire::safe_mode_json(&to, &encrypt)).unwrap();
        prop_assert_eq!(msg.encrypt.as_deref(), Some(encrypt.as_str()));
        prop_assert_eq!(PushFormat::sniff(None, mock_wire::safe_mode_json(&to, &encrypt).as_bytes()), PushFormat::Json);
    }

    #[test]
    fn sealed_json_pushes_open_to_what_was_sealed(
        key in "[A-Za-z0-9]{43}",
        from in "o[A-Za-z0-9_-]{27}",
        scene in "[A-Za-z0-9_]{1,32}",
        random in prop::array::uniform16(any::<u8>()),
        nonce in "[0-9]{1,10}",
    ) {
        let c = PushCrypto::new("tok", Some(&key), "wx0000000000000001").unwrap();
        let inner = mock_wire::event_json("gh_000000000001", &from, 1_700_000_000, "SCAN", &scene, "T");
        let sealed = c.encrypt(&inner, random).unwrap();
        let ts = "1700000000";
        let query = PushQuery::parse(&format!(
            "signature={}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
            c.signature(ts, &nonce),
            c.msg_signature(ts, &nonce, &sealed)
        ));
        let opened = c.open(&query, PushFormat::Json, &mock_wire::safe_mode_json("gh_000000000001", &sealed)).unwrap();
        prop_assert!(opened.encrypted);
        prop_assert_eq!(&opened.document, &inner);
        prop_assert_eq!(&opened.message.from_user_name, &from);
        prop_assert_eq!(opened.message.scan_scene(), Some(scene.as_str()));
        // The same envelope with another ciphertext than the signed one: refused.
        let other = c.encrypt(&inner, [0; 16]).unwrap();
        if other != sealed {
            prop_assert!(c.open(&query, PushFormat::Json, &mock_wire::safe_mode_json("gh_000000000001", &other)).is_err());
        }
    }

    #[test]
    fn push_query_never_panics_and_reads_what_was_written(
        junk in ".{0,300}",
        sig in "[0-9a-f]{40}",
        ts in "[0-9]{1,12}",
        nonce in "[0-9A-Za-z]{1,20}",
    ) {
        let _ = PushQuery::parse(&junk);
        let q = PushQuery::parse(&format!(
            "signature={sig}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={sig}&{}",
            encode(&junk)
        ));
        prop_assert_eq!(q.signature.as_deref(), Some(sig.as_str()));
        prop_assert_eq!(q.timestamp.as_deref(), Some(ts.as_str()));
        prop_assert_eq!(q.nonce.as_deref(), Some(nonce.as_str()));
        prop_assert!(q.is_encrypted());
    }

    #[test]
    fn encoding_aes_keys_never_panic(key in ".{0,60}", appid in "[a-z0-9]{0,20}") {
        if let Ok(c) = PushCrypto::new("tok", Some(&key), &appid) {
            // Any key accepted can seal and open.
            let sealed = c.encrypt("<xml/>", [7; 16]).unwrap();
            prop_assert_eq!(c.decrypt(&sealed).unwrap(), "<xml/>");
        }
    }

    #[test]
    fn encrypt_then_decrypt_is_the_identity(
        key in "[A-Za-z0-9]{43}",
        appid in "wx[0-9a-f]{16}",
        msg in ".{0,500}",
        random in prop::array::uniform16(any::<u8>()),
    ) {
        let c = PushCrypto::new("tok", Some(&key), &appid).unwrap();
        let sealed = c.encrypt(&msg, random).unwrap();
        prop_assert_eq!(c.decrypt(&sealed).unwrap(), msg);
        // Sealed for another app: refused, not mis-read.
        let other = PushCrypto::new("tok", Some(&key), "wx_other").unwrap();
        prop_assert!(other.decrypt(&sealed).is_err());
        // And the safe-mode envelope carries it through the XML reader intact.
        let outer = PushMessage::parse(&mock_wire::safe_mode_xml("gh_1", &sealed)).unwrap();
        prop_assert_eq!(outer.encrypt.as_deref(), Some(sealed.as_str()));
    }

    #[test]
    fn decrypting_junk_never_panics(junk in ".{0,400}", bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let c = PushCrypto::new("tok", Some(KEY), "wx1").unwrap();
        let _ = c.decrypt(&junk);
        use base64::Engine as _;
        let _ = c.decrypt(&base64::engine::general_purpose::STANDARD.encode(&bytes));
    }

    #[test]
    fn wechat_answers_never_panic_the_decoders(body in ".{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        for b in [body.as_bytes(), bytes.as_slice()] {
            let _ = serde_json::from_slice::<OAuthToken>(b);
            let _ = serde_json::from_slice::<UserInfo>(b);
            let _ = serde_json::from_slice::<MiniSession>(b);
            let _ = serde_json::from_slice::<GlobalToken>(b);
            let _ = serde_json::from_slice::<OaUserInfo>(b);
        }
    }

    #[test]
    fn userinfo_sex_and_ids_read_in_any_shape(
        sex in prop_oneof![
            (0_i64..3).prop_map(|n| n.to_string()),
            (0_i64..3).prop_map(|n| format!("\"{n}\"")),
            any::<i64>().prop_map(|n| n.to_string()),
            "\"[a-z0-9 ]{0,4}\"",
            Just("null".to_owned()),
        ],
        pad in "( |\\\\t){0,3}",
        id in "o[A-Za-z0-9_-]{27}",
    ) {
        let body = format!(r#"{{"openid":"{pad}{id}{pad}","sex":{sex},"unionid":"{pad}{id}"}}"#);
        let u: UserInfo = serde_json::from_str(&body).unwrap();
        prop_assert!(u.sex <= 2);
        prop_assert_eq!(&u.openid, &id);
        prop_assert_eq!(u.unionid.as_deref(), Some(id.as_str()));
    }
}

proptest! {
    // Each case is a request through the whole layer: fewer cases, still seconds.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_cookie_header_is_answered_without_a_server_error(value in header_value()) {
        let app = app();
        runtime().block_on(async {
            let Ok(req) = Request::get("/api/data").header("cookie", value).body(Body::empty()) else {
                return Ok(());
            };
            let (res, _) = call(&app, req).await;
            prop_assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            prop_assert!(!sets_session(&res));
            Ok(())
        })?;
    }

    #[test]
    fn any_jwt_shaped_token_is_refused(token in jwt_like(), as_cookie in any::<bool>()) {
        let app = app();
        runtime().block_on(async {
            let req = if as_cookie {
                Request::get("/api/data").header("cookie", format!("wechat_session={token}"))
            } else {
                Request::get("/api/data").header("authorization", format!("Bearer {token}"))
            };
            let (res, _) = call(&app, req.body(Body::empty()).unwrap()).await;
            prop_assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            Ok(())
        })?;
    }

    #[test]
    fn any_state_and_code_on_the_callback_is_refused_without_a_session(
        state in ".{0,200}",
        code in ".{0,100}",
        cookie in header_value(),
    ) {
        let app = app();
        runtime().block_on(async {
            let uri = format!("/auth/wechat/callback?code={}&state={}", encode(&code), encode(&state));
            let Ok(req) = Request::get(uri).header("cookie", cookie).body(Body::empty()) else {
                return Ok(());
            };
            let (res, _) = call(&app, req).await;
            prop_assert!(res.status().is_client_error() || res.status() == StatusCode::OK, "{}", res.status());
            prop_assert!(!sets_session(&res));
            Ok(())
        })?;
    }

    #[test]
    fn return_to_is_always_local_and_a_fixed_point(candidate in ".{0,120}") {
        let app = app();
        runtime().block_on(async {
            let start = |rt: &str| Request::get(format!(
                "/auth/wechat/login?channel=website&return_to={}", encode(rt)
            )).body(Body::empty()).unwrap();
            let (res, _) = call(&app, start(&candidate)).await;
            prop_assert_eq!(res.status(), StatusCode::FOUND);
            let rt = state_return_to(&res).unwrap();
            prop_assert!(rt.starts_with('/') && !rt.starts_with("//"), "{:?} -> {:?}", candidate, rt);
            prop_assert!(!rt.bytes().any(|b| b.is_ascii_control() || b == b'\\'), "{:?}", rt);
            // Checking the result again gives it back.
            let (again, _) = call(&app, start(&rt)).await;
            prop_assert_eq!(state_return_to(&again).unwrap(), rt);
            Ok(())
        })?;
    }

    #[test]
    fn plain_local_paths_are_kept(path in "(/[a-z0-9_-]{1,12}){1,4}(\\?[a-z]=[0-9]{1,3})?") {
        let app = app();
        runtime().block_on(async {
            let req = Request::get(format!("/auth/wechat/login?channel=website&return_to={}", encode(&path)))
                .body(Body::empty()).unwrap();
            let (res, _) = call(&app, req).await;
            prop_assert_eq!(state_return_to(&res).unwrap(), path);
            Ok(())
        })?;
    }

    #[test]
    fn any_sdk_body_is_refused_without_a_server_error(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            ".{0,200}".prop_map(String::into_bytes),
            "\\{\"code\":[0-9]{0,5}(,\"state\":\"[a-z]{0,5}\")?\\}".prop_map(String::into_bytes),
            Just(b"{\"code\":null}".to_vec()),
            Just(b"[]".to_vec()),
        ],
        endpoint in prop_oneof![Just("/auth/wechat/app"), Just("/auth/wechat/miniprogram"), Just("/auth/wechat/miniprogram/scan")],
    ) {
        let app = app();
        runtime().block_on(async {
            let req = Request::post(endpoint)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let (res, _) = call(&app, req).await;
            // Bodies here never carry a usable string code: refused before any call to WeChat.
            prop_assert!(res.status().is_client_error(), "{}", res.status());
            prop_assert!(!sets_session(&res));
            Ok(())
        })?;
    }

    #[test]
    fn any_signed_json_push_is_answered_without_a_server_error(
        inner in prop_oneof![".{0,200}", json_soup(), json_object()],
        outer in prop_oneof![Just(None), json_soup().prop_map(Some), json_object().prop_map(Some)],
    ) {
        // Validly signed for the app's Official Account, sealed in safe mode like WeChat's: the
        // hostile JSON reaches the reader both as the envelope and as the decrypted document.
        static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nonce = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string();
        let c = PushCrypto::new("pushtoken", Some(KEY), "wx_oa_000000000001").unwrap();
        let sealed = c.encrypt(&inner, [9; 16]).unwrap();
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
        let body = outer.unwrap_or_else(|| mock_wire::safe_mode_json("gh_000000000001", &sealed));
        let app = app();
        runtime().block_on(async {
            let req = Request::post(format!(
                "/auth/wechat/push?signature={}&timestamp={ts}&nonce={nonce}&openid=o1&encrypt_type=aes&msg_signature={}",
                c.signature(&ts, &nonce),
                c.msg_signature(&ts, &nonce, &sealed)
            ))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
            let (res, _) = call(&app, req).await;
            prop_assert!(res.status().is_client_error() || res.status() == StatusCode::OK, "{}", res.status());
            prop_assert!(!sets_session(&res));
            Ok(())
        })?;
    }

    #[test]
    fn any_push_post_is_answered_without_a_server_error(
        query in ".{0,200}",
        body in ".{0,300}",
    ) {
        let app = app();
        runtime().block_on(async {
            let Ok(req) = Request::post(format!("/auth/wechat/push?{}", encode(&query)))
                .header("content-type", "text/xml")
                .body(Body::from(body)) else { return Ok(()); };
            let (res, _) = call(&app, req).await;
            prop_assert!(res.status().is_client_error(), "{}", res.status());
            Ok(())
        })?;
    }
}
