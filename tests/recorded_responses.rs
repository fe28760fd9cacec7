//! Recorded responses from public sources (tests/fixtures/, cited in its README.md), each
//! served over a real socket and read by the real `WechatClient` (or, for push vectors, by
//! the push reader), so the crate is checked against what WeChat sends and not only against
//! its own mock.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

use fault_proxy::{FaultProxy, Misbehave};
use serde_json::Value;
use wechat_auth::{
    Secret,
    client::{ErrorKind, Lang, QrCodeRequest, WechatClient, WechatError, WxaCodeRequest},
    push::{PushCrypto, PushMessage},
};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A client whose every call is answered with the fixture's bytes.
async fn client_answering(body: Vec<u8>) -> (FaultProxy, WechatClient) {
    let server = FaultProxy::replay(Misbehave::Fixed(200, "application/json", body)).await;
    let client = WechatClient::builder()
        .with_api_base(server.url.clone())
        .with_max_retries(0)
        .build()
        .unwrap();
    (server, client)
}

async fn client_for(path: &str) -> (FaultProxy, WechatClient) {
    client_answering(fixture(path)).await
}

fn s(v: &str) -> Secret {
    Secret::new(v)
}

#[tokio::test]
async fn wechatpy_oauth_token_and_refresh_bodies() {
    let (_srv, c) = client_for("wechatpy/sns_oauth2_access_token.json").await;
    let t = c
        .oauth2_access_token("wx1", &s("sec"), "CODE")
        .await
        .unwrap();
    assert_eq!(
        (t.openid.as_str(), t.scope.as_str(), t.expires_in),
        ("OPENID", "SCOPE", 7200)
    );
    assert_eq!(t.access_token.expose(), "ACCESS_TOKEN");
    assert_eq!(t.refresh_token.expose(), "REFRESH_TOKEN");
    assert_eq!(t.unionid, None);
    assert!(!t.is_snapshotuser);

    let (_srv, c) = client_for("wechatpy/sns_oauth2_refresh_token.json").await;
    let t = c.oauth2_refresh_token("wx1", &s("RT")).await.unwrap();
    assert_eq!(t.openid, "OPENID");

    let (_srv, c) = client_for("observed/sns_oauth2_access_token_snapshot.json").await;
    let t = c
        .oauth2_access_token("wx1", &s("sec"), "CODE")
        .await
        .unwrap();
    assert!(t.is_snapshotuser);
    assert_eq!(t.unionid.as_deref(), Some("UNIONID"));
}

#[tokio::test]
async fn wechatpy_userinfo_with_sex_as_a_string() {
    let (_srv, c) = client_for("wechatpy/sns_userinfo.json").await;
    let u = c.userinfo(&s("AT"), "OPENID", Lang::ZhCn).await.unwrap();
    assert_eq!(u.sex, 1, "\"sex\": \"1\" reads as 1");
    assert_eq!(u.nickname, "NICKNAME");
    assert_eq!(u.city, "CITY");
    assert_eq!(u.privilege, ["PRIVILEGE1", "PRIVILEGE2"]);
    assert_eq!(u.unionid.as_deref(), Some("o6_bmasdasdsad6_2sgVt7hMZOPfL"));
    assert!(
        u.headimgurl.starts_with("http://wx.qlogo.cn/mmopen/") && u.headimgurl.ends_with("/46")
    );

    let (_srv, c) = client_for("observed/sns_userinfo_escaped.json").await;
    let u = c.userinfo(&s("AT"), "O", Lang::ZhCn).await.unwrap();
    assert!(
        u.headimgurl
            .starts_with("http://thirdwx.qlogo.cn/mmopen/vi_32/"),
        "escaped slashes decoded: {}",
        u.headimgurl
    );
    assert_eq!(u.sex, 0);
    assert_eq!(u.nickname, "微信用户");
}

#[tokio::test]
async fn wechatpy_follower_with_a_space_before_the_unionid() {
    let (_srv, c) = client_for("wechatpy/user_info.json").await;
    let u = c
        .user_info(&s("GT"), "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", Lang::ZhCn)
        .await
        .unwrap();
    assert!(u.subscribe);
    assert_eq!(u.openid, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M");
    assert_eq!(
        u.unionid.as_deref(),
        Some("o6_bmasdasdsad6_2sgVt7hMZOPfL"),
        "the sample's leading space is trimmed"
    );
    assert_eq!(u.subscribe_time, 1_382_694_957);
    assert_eq!(u.language, "zh_CN");
}

#[tokio::test]
async fn wechatpy_mini_program_global_token_qr_and_phone_bodies() {
    let (_srv, c) = client_for("wechatpy/sns_jscode2session.json").await;
    let m = c.jscode2session("wx1", &s("sec"), "JSCODE").await.unwrap();
    assert_eq!(m.openid, "o16wA0b4AZKzgVJR3MBwoUdTfU_E");
    assert_eq!(m.unionid.as_deref(), Some("or4zX05h_Ykt4ju0TUfx3CQsvfTo"));
    assert_eq!(m.session_key.expose(), "D1ZWEygStjuLCnZ9IN2l4Q==");

    let (_srv, c) = client_for("wechatpy/sns_auth.json").await;
    c.sns_auth(&s("AT"), "OPENID").await.unwrap();

    let (_srv, c) = client_for("wechatpy/token.json").await;
    let t = c.token("wx1", &s("sec")).await.unwrap();
    assert_eq!(
        (t.access_token.expose(), t.expires_in),
        ("1234567890", 7200)
    );
    let t = c.stable_token("wx1", &s("sec"), false).await.unwrap();
    assert_eq!(t.expires_in, 7200);

    let (_srv, c) = client_for("wechatpy/qrcode_create.json").await;
    let q = c
        .qrcode_create(&s("GT"), &QrCodeRequest::temporary_str("login_1", 1800))
        .await
        .unwrap();
    assert_eq!(q.expire_seconds, Some(1800));
    assert!(q.ticket.starts_with("gQH47jo") && q.ticket.ends_with("=="));
    assert_eq!(q.url, "https://weixin.qq.com/q/kZgfwMTm72WWPkovabbI");

    let (_srv, c) = client_for("wechatpy/wxa_business_getuserphonenumber.json").await;
    let p = c.phone_number(&s("GT"), "PHONECODE", None).await.unwrap();
    assert_eq!(p.phone_number, "13123456789");
    assert_eq!(p.country_code, "86", "countryCode sent as a number");
    assert_eq!(p.watermark_timestamp, 1_637_744_274);
}

#[tokio::test]
async fn observed_error_bodies_map_to_kinds_with_hints() {
    let cases: Vec<Value> = serde_json::from_slice(&fixture("observed/error_bodies.json")).unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let endpoint = case["endpoint"].as_str().unwrap();
        let errcode = case["errcode"].as_i64().unwrap();
        let kind = case["kind"].as_str().unwrap();
        let body = match case.get("raw") {
            Some(raw) => raw.as_str().unwrap().as_bytes().to_vec(),
            None => serde_json::to_vec(&case["body"]).unwrap(),
        };
        let expected_msg = serde_json::from_slice::<Value>(&body).unwrap()["errmsg"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_srv, c) = client_answering(body).await;
        let err: WechatError = match endpoint {
            "cgi-bin/token" => c.token("wx1", &s("sec")).await.unwrap_err(),
            "cgi-bin/stable_token" => c.stable_token("wx1", &s("sec"), false).await.unwrap_err(),
            "sns/oauth2/access_token" => c
                .oauth2_access_token("wx1", &s("sec"), "C")
                .await
                .unwrap_err(),
            "sns/oauth2/refresh_token" => {
                c.oauth2_refresh_token("wx1", &s("RT")).await.unwrap_err()
            }
            "sns/jscode2session" => c.jscode2session("wx1", &s("sec"), "J").await.unwrap_err(),
            "wxa/getwxacodeunlimit" => c
                .wxa_code_unlimit(&s("GT"), &WxaCodeRequest::new("s"))
                .await
                .unwrap_err(),
            other => panic!("no call for {other}"),
        };
        assert_eq!(err.errcode(), Some(errcode), "{endpoint}: {err}");
        assert_eq!(err.endpoint(), Some(endpoint));
        assert_eq!(err.kind().as_str(), kind, "{endpoint} {errcode}");
        assert_ne!(err.kind(), ErrorKind::Other);
        assert!(!err.is_retryable(), "{errcode} is not retried");
        let text = err.to_string();
        assert!(
            text.contains(&expected_msg),
            "errmsg kept verbatim (slashes unescaped): {text}"
        );
        assert!(
            !err.hint().contains("does not know"),
            "{errcode} has a hint"
        );
    }
}

#[test]
fn wechatpy_wecom_safe_mode_vector_opens_with_the_push_reader() {
    let v: Value = serde_json::from_slice(&fixture("wechatpy/wecom_safe_mode_push.json")).unwrap();
    let str_of = |k: &str| v[k].as_str().unwrap();
    // WeCom seals with the CorpID where an Official Account seals with its AppID: the same
    // algorithm (protocol §7.4), so the reader opens it with the CorpID as "appid".
    let crypto = PushCrypto::new(
        str_of("token"),
        Some(str_of("encoding_aes_key")),
        str_of("receive_id"),
    )
    .unwrap();
    let outer = PushMessage::parse(str_of("body")).unwrap();
    let encrypt = outer.encrypt.as_deref().unwrap();
    assert!(crypto.verify_msg_signature(
        str_of("msg_signature"),
        str_of("timestamp"),
        str_of("nonce"),
        encrypt
    ));
    assert!(!crypto.verify_msg_signature(
        str_of("msg_signature"),
        str_of("timestamp"),
        "461056295",
        encrypt
    ));
    let inner = PushMessage::parse(&crypto.decrypt(encrypt).unwrap()).unwrap();
    let expect = &v["expect"];
    assert_eq!(inner.msg_type, expect["MsgType"]);
    assert_eq!(inner.from_user_name, expect["FromUserName"]);
    assert_eq!(inner.to_user_name, expect["ToUserName"]);

    // The URL-verification vector: its msg_signature covers the echostr, which decrypts.
    let u = &v["url_signature_vector"];
    let us = |k: &str| u[k].as_str().unwrap();
    assert!(crypto.verify_msg_signature(
        us("signature"),
        us("timestamp"),
        us("nonce"),
        us("echostr")
    ));
    assert!(!crypto.decrypt(us("echostr")).unwrap().is_empty());
    // Another receiver id is refused.
    let other = PushCrypto::new(str_of("token"), Some(str_of("encoding_aes_key")), "wx0").unwrap();
    assert!(other.decrypt(encrypt).is_err());
}
