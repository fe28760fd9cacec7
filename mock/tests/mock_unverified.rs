//! The mock's unverified subscription account (issue 25, protocol §25) over real sockets:
//! WeChat refuses it parametric QR codes, follower info and web authorization (48001, error
//! page 10005) while it keeps global tokens, pushes and passive replies; every call is
//! counted for its appid; the verified primary account is untouched; messages reach its own
//! push URL in plain, compatible and safe mode with the reply decoded; the phone page chats
//! with either account.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wechat_auth_mock::wire::{self, SafeModeKey};
use wechat_auth_mock::{MockApp, MockWechat};

fn http() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get_json(url: String) -> Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

async fn post_json(url: String, body: Value) -> (StatusCode, Value) {
    let resp = http().post(url).json(&body).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// A global access token of `app` from `cgi-bin/token`.
async fn token(mock: &MockWechat, app: &MockApp) -> Value {
    http()
        .get(format!("{}/cgi-bin/token", mock.api_base()))
        .query(&[
            ("grant_type", "client_credential"),
            ("appid", app.appid.as_str()),
            ("secret", app.secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn qrcode_create(mock: &MockWechat, access_token: &str) -> Value {
    http()
        .post(format!("{}/cgi-bin/qrcode/create", mock.api_base()))
        .query(&[("access_token", access_token)])
        .json(
            &json!({"expire_seconds": 300, "action_name": "QR_STR_SCENE",
                      "action_info": {"scene": {"scene_str": "login_1"}}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn user_info(mock: &MockWechat, access_token: &str, openid: &str) -> Value {
    http()
        .get(format!("{}/cgi-bin/user/info", mock.api_base()))
        .query(&[
            ("access_token", access_token),
            ("openid", openid),
            ("lang", "zh_CN"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `connect/oauth2/authorize` for `appid`, parameters in WeChat's order, with `extra`
/// (the mock's `mock_user` / `mock_action`) after them.
fn authorize_url(mock: &MockWechat, appid: &str, extra: &str) -> String {
    format!(
        "{}/connect/oauth2/authorize?appid={appid}&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb\
         &response_type=code&scope=snsapi_userinfo&state=s1{extra}",
        mock.open_base()
    )
}

async fn exchange(mock: &MockWechat, app: &MockApp, code: &str) -> Value {
    http()
        .get(format!("{}/sns/oauth2/access_token", mock.api_base()))
        .query(&[
            ("appid", app.appid.as_str()),
            ("secret", app.secret.as_str()),
            ("code", code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn assert_48001(v: &Value) {
    assert_eq!(v["errcode"], 48001, "{v}");
    let msg = v["errmsg"].as_str().unwrap();
    assert!(msg.starts_with("api unauthorized"), "{msg}");
    assert!(msg.contains("rid: "), "{msg}");
}

#[tokio::test]
async fn the_unverified_account_is_refused_qr_codes_user_info_and_web_authorization() {
    let mock = MockWechat::start().await.unwrap();
    let sub = mock.unverified_account().clone();
    let primary = mock.official_account().appid.clone();
    assert_ne!(sub.appid, primary);
    assert!(!sub.verified);

    // Global tokens work, from both token endpoints.
    let t = token(&mock, &sub).await;
    let access_token = t["access_token"]
        .as_str()
        .expect("a global token")
        .to_owned();
    let (status, stable) = post_json(
        format!("{}/cgi-bin/stable_token", mock.api_base()),
        json!({"grant_type": "client_credential", "appid": sub.appid, "secret": sub.secret}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(stable["access_token"].is_string(), "{stable}");

    // What such an account may not do: 48001, whichever token.
    assert_48001(&qrcode_create(&mock, &access_token).await);
    let stable_token = stable["access_token"].as_str().unwrap();
    assert_48001(&qrcode_create(&mock, stable_token).await);
    let openid = mock.user("alice").unwrap().openid_for(&sub.appid);
    assert_48001(&user_info(&mock, &access_token, &openid).await);
    // No ticket came to be.
    assert_eq!(mock.calls("cgi-bin/qrcode/create"), 2);

    // The authorize page: WeChat's error page 10005, even when the user would approve; no
    // redirect, no code.
    for extra in ["", "&mock_user=alice&mock_action=approve"] {
        let resp = http()
            .get(authorize_url(&mock, &sub.appid, extra))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "an error page, not a redirect"
        );
        assert!(resp.headers().get("location").is_none());
        assert_eq!(resp.headers()["x-mock-error"], "10005");
        let page = resp.text().await.unwrap();
        assert!(page.contains("错误码：10005"), "{page}");
        assert!(page.contains("Scope 参数错误或没有 Scope 权限"), "{page}");
        assert!(
            !page.contains("mock_action=approve"),
            "no approve link: {page}"
        );
    }
    // The code exchange with its appid is refused whatever the code.
    assert_48001(&exchange(&mock, &sub, "0123456789abcdef0123456789abcdef").await);

    // Every call is counted for the account that made it.
    let counted = |endpoint: &str| mock.app_calls(&sub.appid, endpoint);
    assert_eq!(counted("cgi-bin/token"), 1);
    assert_eq!(counted("cgi-bin/stable_token"), 1);
    assert_eq!(counted("cgi-bin/qrcode/create"), 2);
    assert_eq!(counted("/cgi-bin/user/info"), 1);
    assert_eq!(counted("connect/oauth2/authorize"), 2);
    assert_eq!(counted("sns/oauth2/access_token"), 1);
    for endpoint in [
        "cgi-bin/qrcode/create",
        "cgi-bin/user/info",
        "connect/oauth2/authorize",
    ] {
        assert_eq!(mock.app_calls(&primary, endpoint), 0, "{endpoint}");
    }
    // The same over HTTP, and reset with the other counters.
    let by_app = get_json(format!("{}/mock/calls?appid={}", mock.url(), sub.appid)).await;
    assert_eq!(by_app["cgi-bin/qrcode/create"], 2, "{by_app}");
    assert_eq!(by_app["connect/oauth2/authorize"], 2, "{by_app}");
    assert_eq!(by_app["cgi-bin/user/info"], 1, "{by_app}");
    assert_eq!(by_app, json!(mock.all_app_calls(&sub.appid)));
    let none = get_json(format!("{}/mock/calls?appid={primary}", mock.url())).await;
    assert_eq!(none, json!({}));
    let all = get_json(format!("{}/mock/calls", mock.url())).await;
    assert_eq!(
        all["cgi-bin/qrcode/create"], 2,
        "per endpoint as before: {all}"
    );
    http()
        .delete(format!("{}/mock/calls", mock.url()))
        .send()
        .await
        .unwrap();
    assert!(mock.all_app_calls(&sub.appid).is_empty());
}

#[tokio::test]
async fn the_verified_primary_account_still_has_everything() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account().clone();
    assert!(oa.verified);
    assert_eq!(
        oa.appid, "wx2000000000000002",
        "the primary OA is unchanged"
    );
    let sub = mock.unverified_account().appid.clone();

    let t = token(&mock, &oa).await;
    let access_token = t["access_token"].as_str().unwrap();
    let qr = qrcode_create(&mock, access_token).await;
    assert!(qr["ticket"].is_string(), "{qr}");
    let openid = mock.user("bob").unwrap().openid_for(&oa.appid);
    let info = user_info(&mock, access_token, &openid).await;
    assert_eq!(info["subscribe"], 0, "{info}");

    let resp = http()
        .get(authorize_url(
            &mock,
            &oa.appid,
            "&mock_user=alice&mock_action=approve",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let back = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let user = exchange(&mock, &oa, &code).await;
    assert_eq!(
        user["openid"],
        mock.user("alice").unwrap().openid_for(&oa.appid)
    );

    // Counted for the primary account, not for the unverified one.
    for endpoint in [
        "cgi-bin/token",
        "cgi-bin/qrcode/create",
        "cgi-bin/user/info",
        "connect/oauth2/authorize",
        "sns/oauth2/access_token",
    ] {
        assert_eq!(mock.app_calls(&oa.appid, endpoint), 1, "{endpoint}");
        assert_eq!(mock.app_calls(&sub, endpoint), 0, "{endpoint}");
    }
}

#[tokio::test]
async fn config_lists_the_unverified_account_beside_the_primary_one() {
    let mock = MockWechat::start().await.unwrap();
    let cfg = get_json(format!("{}/mock/config", mock.url())).await;
    let accounts: Vec<&Value> = cfg["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "official_account")
        .collect();
    assert_eq!(accounts.len(), 2, "{cfg}");
    // The first Official Account listed is the primary, verified one.
    assert_eq!(accounts[0]["appid"], mock.official_account().appid);
    assert_eq!(accounts[0]["verified"], true);
    let sub = accounts[1];
    assert_eq!(sub["verified"], false);
    assert_eq!(sub["appid"], mock.unverified_account().appid);
    assert_eq!(sub["secret"], mock.unverified_account().secret);
    assert_ne!(sub["token"], accounts[0]["token"]);
    assert_ne!(sub["encoding_aes_key"], accounts[0]["encoding_aes_key"]);
    assert_eq!(sub["encoding_aes_key"].as_str().unwrap().len(), 43);
    // Its own push URL, settable by `url` (or `push_url`) with its appid.
    let (status, set) = post_json(
        format!("{}/mock/push_url", mock.url()),
        json!({"url": "http://127.0.0.1:3000/sub", "appid": sub["appid"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let cfg = get_json(format!("{}/mock/config", mock.url())).await;
    let push_urls: Vec<&Value> = cfg["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "official_account")
        .map(|a| &a["push_url"])
        .collect();
    assert_eq!(
        push_urls,
        [&Value::Null, &json!("http://127.0.0.1:3000/sub")]
    );
    // The environment for the layer still names the primary account.
    assert!(
        mock.env_vars()
            .contains(&("WECHAT_OA_APP_ID", mock.official_account().appid.clone()))
    );
    assert!(mock.summary().contains("(unverified"), "{}", mock.summary());
}

/// An account's push endpoint: checks the signature with the account's token, opens safe and
/// compatible mode with its key and appid, and answers each text with a passive text reply,
/// sealed when the push was.
#[derive(Clone)]
struct Account {
    token: String,
    key: Option<String>,
    appid: String,
    got: Arc<Mutex<Vec<String>>>,
}

async fn account_push(State(a): State<Account>, RawQuery(q): RawQuery, body: String) -> Response {
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let field = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let (timestamp, nonce) = (field("timestamp"), field("nonce"));
    if wire::signature(&[&a.token, timestamp, nonce]) != field("signature") {
        return (axum::http::StatusCode::FORBIDDEN, "bad signature").into_response();
    }
    let sealed = field("encrypt_type") == "aes";
    let key = a.key.as_deref().map(|k| SafeModeKey::new(k).unwrap());
    let message = if sealed {
        let encrypt = wire::xml_field(&body, "Encrypt").unwrap_or_default();
        if wire::signature(&[&a.token, timestamp, nonce, &encrypt]) != field("msg_signature") {
            return (axum::http::StatusCode::FORBIDDEN, "bad msg_signature").into_response();
        }
        let Some(Ok((message, appid))) = key.as_ref().map(|k| k.decrypt(&encrypt)) else {
            return (axum::http::StatusCode::BAD_REQUEST, "cannot decrypt").into_response();
        };
        if appid != a.appid {
            return (axum::http::StatusCode::BAD_REQUEST, "other appid").into_response();
        }
        message
    } else {
        body
    };
    let content = wire::xml_field(&message, "Content").unwrap_or_default();
    a.got.lock().unwrap().push(content.clone());
    let user = wire::xml_field(&message, "FromUserName").unwrap_or_default();
    let account = wire::xml_field(&message, "ToUserName").unwrap_or_default();
    let reply = format!(
        "<xml><ToUserName><![CDATA[{user}]]></ToUserName><FromUserName><![CDATA[{account}]]></FromUserName>\
         <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[收到 <{content}> & 回复 1 确认]]></Content></xml>"
    );
    match (sealed, key) {
        (true, Some(key)) => {
            let encrypt = key.encrypt(rand_bytes(), &reply, &a.appid);
            let sig = wire::signature(&[&a.token, "1700000001", "42", &encrypt]);
            wire::reply_envelope_xml(&encrypt, &sig, 1_700_000_001, "42").into_response()
        }
        _ => reply.into_response(),
    }
}

fn rand_bytes() -> [u8; 16] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    nanos.to_le_bytes()
}

/// Starts `app`'s push endpoint on 127.0.0.1:0: its URL and what it received.
async fn start_account(app: &MockApp) -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let state = Account {
        token: app.token.clone().unwrap(),
        key: app.encoding_aes_key.clone(),
        appid: app.appid.clone(),
        got: got.clone(),
    };
    let router = Router::new()
        .route("/push", post(account_push))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, got)
}

#[tokio::test]
async fn messages_reach_the_unverified_account_in_every_mode_with_the_reply_decoded() {
    let mock = MockWechat::start().await.unwrap();
    let sub = mock.unverified_account().clone();
    let primary = mock.official_account().clone();
    let (sub_url, sub_got) = start_account(&sub).await;
    let (primary_url, primary_got) = start_account(&primary).await;
    for (app, url) in [(&sub, &sub_url), (&primary, &primary_url)] {
        let (status, r) = post_json(
            format!("{}/mock/push_url", mock.url()),
            json!({"url": url, "appid": app.appid}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{r}");
    }

    for (mode, encrypted) in [("plain", false), ("compatible", true), ("safe", true)] {
        let (status, r) = post_json(
            format!("{}/mock/push_format", mock.url()),
            json!({"format": "xml", "mode": mode, "appid": sub.appid}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["appid"], sub.appid.as_str());
        let text = format!("登录 {mode} 123456");
        let (status, report) = post_json(
            format!("{}/mock/message", mock.url()),
            json!({"user": "alice", "text": text, "appid": sub.appid}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["acknowledged"], true, "{mode}: {report}");
        assert_eq!(report["deliveries"], 1, "{mode}: {report}");
        assert_eq!(report["encrypted"], encrypted, "{mode}: {report}");
        assert_eq!(report["push_url"], sub_url.as_str());
        assert_eq!(
            report["openid"],
            mock.user("alice").unwrap().openid_for(&sub.appid)
        );
        // The reply as the user sees it: opened and unescaped, whatever the mode.
        assert_eq!(
            report["reply"],
            format!("收到 <{text}> & 回复 1 确认"),
            "{mode}: {report}"
        );
        assert_eq!(sub_got.lock().unwrap().last(), Some(&text));
    }
    // Only the unverified account's endpoint was reached, three times.
    assert_eq!(sub_got.lock().unwrap().len(), 3);
    assert!(primary_got.lock().unwrap().is_empty());
    assert_eq!(mock.app_calls(&sub.appid, "push"), 3);
    assert_eq!(mock.app_calls(&primary.appid, "push"), 0);
    // The chat is the unverified account's.
    let chat = mock.chat_with("alice", &sub.appid);
    assert_eq!(chat.len(), 6, "{chat:?}");
    assert_eq!(chat[5].from, "account");
    assert!(chat.iter().all(|l| l.account == sub.appid));
    assert!(mock.chat_with("alice", &primary.appid).is_empty());

    // The primary account still gets its own messages by default (no appid).
    let (status, report) = post_json(
        format!("{}/mock/message", mock.url()),
        json!({"user": "bob", "text": "hi"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["push_url"], primary_url.as_str());
    assert_eq!(report["reply"], "收到 <hi> & 回复 1 确认");
    assert_eq!(primary_got.lock().unwrap().as_slice(), ["hi"]);

    // The handle does the same.
    let r = mock.send_text_to(&sub.appid, "carol", "0").await.unwrap();
    assert_eq!(r.reply.as_deref(), Some("收到 <0> & 回复 1 确认"));
    assert!(r.encrypted, "still in safe mode");

    // Misuse: not an Official Account, unknown appid, no push URL.
    let (status, _) = post_json(
        format!("{}/mock/message", mock.url()),
        json!({"user": "alice", "text": "x", "appid": mock.website().appid}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post_json(
        format!("{}/mock/push_format", mock.url()),
        json!({"mode": "plain", "appid": "wx_nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    mock.set_push_url(&sub.appid, None).unwrap();
    let (status, r) = post_json(
        format!("{}/mock/message", mock.url()),
        json!({"user": "alice", "text": "x", "appid": sub.appid}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{r}");
}

#[tokio::test]
async fn the_phone_page_chats_with_either_account() {
    let mock = MockWechat::start().await.unwrap();
    let sub = mock.unverified_account().clone();
    let primary = mock.official_account().appid.clone();
    let (sub_url, sub_got) = start_account(&sub).await;
    mock.set_push_url(&sub.appid, Some(&sub_url)).unwrap();

    let page = http()
        .get(format!("{}/mock/phone", mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (appid, verified) in [(&primary, true), (&sub.appid, false)] {
        assert!(
            page.contains(&format!(
                "id=\"chat-{appid}\" data-appid=\"{appid}\" data-verified=\"{verified}\""
            )),
            "{page}"
        );
        for user in ["alice", "bob", "carol"] {
            for id in ["chat-form", "chat-text", "chat-send"] {
                assert!(
                    page.contains(&format!("id=\"{id}-{appid}-{user}\"")),
                    "{id} of {user} with {appid}"
                );
            }
        }
        assert!(page.contains(&format!(
            "<input type=\"hidden\" name=\"appid\" value=\"{appid}\">"
        )));
    }

    // A person types into the unverified account's box: the form's POST.
    let resp = http()
        .post(format!("{}/mock/phone/message", mock.url()))
        .form(&[
            ("user", "alice"),
            ("appid", sub.appid.as_str()),
            ("text", "<b>登录</b> 654321"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(sub_got.lock().unwrap().as_slice(), ["<b>登录</b> 654321"]);
    let page = http()
        .get(format!("{}/mock/phone", mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<b>登录</b>"), "escaped: {page}");
    // The lines are in the unverified account's box for alice, not in the primary's.
    let section = |appid: &str| {
        let start = page.find(&format!("id=\"chat-{appid}\"")).unwrap();
        let end = page[start..].find("</section>").unwrap();
        page[start..start + end].to_owned()
    };
    let sub_box = section(&sub.appid);
    assert!(
        sub_box.contains("我：&lt;b&gt;登录&lt;/b&gt; 654321"),
        "{sub_box}"
    );
    assert!(
        sub_box.contains("公众号：收到 &lt;&lt;b&gt;登录&lt;/b&gt; 654321&gt; &amp; 回复 1 确认"),
        "{sub_box}"
    );
    assert!(!section(&primary).contains("654321"));

    // An appid that is no Official Account is refused; nothing is sent.
    let resp = http()
        .post(format!("{}/mock/phone/message", mock.url()))
        .form(&[
            ("user", "alice"),
            ("appid", mock.website().appid.as_str()),
            ("text", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sub_got.lock().unwrap().len(), 1);
}
