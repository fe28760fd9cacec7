//! The mock's WeCom third-party suite over real sockets (protocol §27, design §6): the
//! `suite_ticket` pushed encrypted to a command callback (checked here with the mock's
//! public `wire` helpers: msg_signature, AES, ReceiveId = suite id), `POST
//! /mock/wecom/suite_ticket`, the 10-minute schedule, `service/get_suite_token`,
//! `service/auth/getuserinfo3rd`, `getuserdetail3rd` and their errcodes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::post;
use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::{Value, json};
use url::Url;
use wechat_auth_mock::wire::{SafeModeKey, signature, xml_field};
use wechat_auth_mock::{MockConfig, MockWechat, MockWecomCorp, MockWecomMember, MockWecomSuite};

const CALLBACK: &str = "http://127.0.0.1:3000/auth/wechat/callback";

fn http() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// What the command callback received and decrypted.
#[derive(Clone, Debug)]
struct Got {
    to_user_name: String,
    receive_id: String,
    message: String,
}

struct Callback {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

#[derive(Clone)]
struct Inbox {
    suite: MockWecomSuite,
    got: Arc<Mutex<Vec<Got>>>,
    answer: &'static str,
}

/// A command callback that checks `msg_signature`, decrypts, records and answers `answer`.
async fn callback_server(suite: &MockWecomSuite, answer: &'static str) -> Callback {
    let got = Arc::new(Mutex::new(Vec::new()));
    let inbox = Inbox {
        suite: suite.clone(),
        got: got.clone(),
        answer,
    };
    let app = Router::new()
        .route("/auth/wechat/wecom/push", post(receive).get(verify))
        .with_state(inbox);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/auth/wechat/wecom/push",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Callback { url, got }
}

async fn receive(State(inbox): State<Inbox>, RawQuery(q): RawQuery, body: String) -> String {
    let q: Vec<(String, String)> = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(sig), Some(ts), Some(nonce)) = (get("msg_signature"), get("timestamp"), get("nonce"))
    else {
        return "missing query".into();
    };
    let Some(encrypt) = xml_field(&body, "Encrypt") else {
        return "no Encrypt".into();
    };
    if signature(&[&inbox.suite.token, &ts, &nonce, &encrypt]) != sig {
        return "bad msg_signature".into();
    }
    let key = SafeModeKey::new(&inbox.suite.encoding_aes_key).unwrap();
    let Ok((message, receive_id)) = key.decrypt(&encrypt) else {
        return "does not decrypt".into();
    };
    inbox.got.lock().unwrap().push(Got {
        to_user_name: xml_field(&body, "ToUserName").unwrap_or_default(),
        receive_id,
        message,
    });
    inbox.answer.to_owned()
}

/// The URL verification: check `msg_signature` over `echostr`, decrypt it, answer the
/// plaintext (with a stray newline when the callback is set to misbehave).
async fn verify(State(inbox): State<Inbox>, RawQuery(q): RawQuery) -> String {
    let q: Vec<(String, String)> = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(sig), Some(ts), Some(nonce), Some(echostr)) = (
        get("msg_signature"),
        get("timestamp"),
        get("nonce"),
        get("echostr"),
    ) else {
        return "missing query".into();
    };
    if signature(&[&inbox.suite.token, &ts, &nonce, &echostr]) != sig {
        return "bad msg_signature".into();
    }
    let key = SafeModeKey::new(&inbox.suite.encoding_aes_key).unwrap();
    let Ok((plain, receive_id)) = key.decrypt(&echostr) else {
        return "does not decrypt".into();
    };
    if receive_id != inbox.suite.suite_id {
        return "wrong ReceiveId".into();
    }
    if inbox.answer == "success" {
        plain
    } else {
        format!("{plain}\n")
    }
}

async fn post_json(url: String, body: &Value) -> (StatusCode, Value) {
    let resp = http().post(url).json(body).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

async fn set_callback(mock: &MockWechat, suite_id: &str, url: Option<&str>) {
    let (status, v) = post_json(
        format!("{}/mock/push_url", mock.url()),
        &json!({"url": url, "appid": suite_id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

async fn push_now(mock: &MockWechat, body: &Value) -> (StatusCode, Value) {
    post_json(format!("{}/mock/wecom/suite_ticket", mock.url()), body).await
}

async fn suite_token(mock: &MockWechat, body: &Value) -> Value {
    let (status, v) = post_json(
        format!("{}/cgi-bin/service/get_suite_token", mock.api_base()),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    v
}

fn token_body(suite: &MockWecomSuite, ticket: &str) -> Value {
    json!({"suite_id": suite.suite_id, "suite_secret": suite.suite_secret, "suite_ticket": ticket})
}

fn assert_wecom_error(v: &Value, code: i64) {
    assert_eq!(v["errcode"], code, "{v}");
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap()
            .ends_with(&format!("devtool/query?e={code}")),
        "{v}"
    );
}

/// The newest ticket the callback received.
fn last_ticket(cb: &Callback) -> String {
    let got = cb.got.lock().unwrap();
    let last = got.last().expect("a push");
    xml_field(&last.message, "SuiteTicket").unwrap()
}

#[tokio::test]
async fn a_pushed_ticket_is_sealed_for_the_suite_and_buys_a_suite_token() {
    let mock = MockWechat::start().await.unwrap();
    let suite = mock.wecom_suite().unwrap().clone();
    let cb = callback_server(&suite, "success").await;

    // No callback yet: the control API says so.
    let (status, v) = push_now(&mock, &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");

    set_callback(&mock, &suite.suite_id, Some(&cb.url)).await;
    let (status, report) = push_now(&mock, &json!({"suite_id": suite.suite_id})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["acknowledged"], true, "{report}");
    assert_eq!(report["deliveries"], 1);
    assert_eq!(report["push_url"], cb.url.as_str());
    let got = cb.got.lock().unwrap().last().cloned().unwrap();
    assert_eq!(got.to_user_name, suite.suite_id);
    assert_eq!(got.receive_id, suite.suite_id, "ReceiveId = suite id");
    assert_eq!(xml_field(&got.message, "SuiteId").unwrap(), suite.suite_id);
    assert_eq!(xml_field(&got.message, "InfoType").unwrap(), "suite_ticket");
    let ticket = last_ticket(&cb);
    assert_eq!(mock.suite_ticket(&suite.suite_id).unwrap(), ticket);

    let ok = suite_token(&mock, &token_body(&suite, &ticket)).await;
    assert_eq!(ok["errcode"], 0);
    assert_eq!(ok["errmsg"], "ok");
    assert_eq!(ok["expires_in"], 7200);
    assert!(ok["suite_access_token"].is_string());

    // Only the newest ticket counts.
    push_now(&mock, &json!({})).await;
    let newer = last_ticket(&cb);
    assert_ne!(newer, ticket);
    assert_wecom_error(
        &suite_token(&mock, &token_body(&suite, &ticket)).await,
        40085,
    );
    assert_eq!(
        suite_token(&mock, &token_body(&suite, &newer)).await["errcode"],
        0
    );

    // Credentials and missing fields.
    let mut wrong = token_body(&suite, &newer);
    wrong["suite_secret"] = json!("nope");
    assert_wecom_error(&suite_token(&mock, &wrong).await, 40080);
    wrong = token_body(&suite, &newer);
    wrong["suite_id"] = json!("ww0000000000000bad");
    assert_wecom_error(&suite_token(&mock, &wrong).await, 40083);
    for (field, code) in [
        ("suite_id", 41021),
        ("suite_secret", 41024),
        ("suite_ticket", 41023),
    ] {
        let mut body = token_body(&suite, &newer);
        body.as_object_mut().unwrap().remove(field);
        assert_wecom_error(&suite_token(&mock, &body).await, code);
    }
    let resp = http()
        .post(format!(
            "{}/cgi-bin/service/get_suite_token",
            mock.api_base()
        ))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_wecom_error(&resp.json().await.unwrap(), 47001);

    // A ticket lives 30 minutes (no pushes meanwhile: the callback is gone).
    set_callback(&mock, &suite.suite_id, None).await;
    mock.advance(Duration::from_secs(31 * 60));
    assert_wecom_error(
        &suite_token(&mock, &token_body(&suite, &newer)).await,
        40085,
    );

    assert_eq!(mock.calls("wecom/suite_ticket"), 2);
    // Counted per suite by the body's suite_id: the calls without it or with another id not.
    assert_eq!(mock.calls("cgi-bin/service/get_suite_token"), 10);
    assert_eq!(
        mock.app_calls(&suite.suite_id, "cgi-bin/service/get_suite_token"),
        7
    );
}

#[tokio::test]
async fn the_mock_pushes_a_ticket_every_ten_minutes_of_its_clock() {
    let mock = MockWechat::start().await.unwrap();
    let suite = mock.wecom_suite().unwrap().clone();
    let cb = callback_server(&suite, "success").await;
    set_callback(&mock, &suite.suite_id, Some(&cb.url)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        cb.got.lock().unwrap().is_empty(),
        "nothing before 10 minutes"
    );

    mock.advance(Duration::from_secs(600));
    let mut waited = 0;
    while cb.got.lock().unwrap().is_empty() && waited < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(cb.got.lock().unwrap().len(), 1, "one push after 10 minutes");
    let ticket = last_ticket(&cb);
    assert_eq!(
        suite_token(&mock, &token_body(&suite, &ticket)).await["errcode"],
        0
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        cb.got.lock().unwrap().len(),
        1,
        "and not again before the next 10"
    );
}

#[tokio::test]
async fn a_callback_that_does_not_say_success_gets_three_deliveries() {
    let mock = MockWechat::start().await.unwrap();
    let suite = mock.wecom_suite().unwrap().clone();
    let cb = callback_server(&suite, "ok?").await;
    mock.set_push_url(&suite.suite_id, Some(&cb.url)).unwrap();
    let report = mock.push_suite_ticket(&suite.suite_id).await.unwrap();
    assert!(!report.acknowledged);
    assert_eq!(report.deliveries, 3);
    assert_eq!(report.last_status, Some(200));
    assert!(report.last_error.unwrap().contains("success"));
    assert_eq!(cb.got.lock().unwrap().len(), 3);
    // The ticket is the newest all the same.
    let ticket = last_ticket(&cb);
    assert_eq!(mock.suite_ticket(&suite.suite_id), Some(ticket));
}

fn login_url(mock: &MockWechat, suite: &MockWecomSuite, in_app_scope: Option<&str>) -> String {
    match in_app_scope {
        None => {
            let mut u = Url::parse(&format!("{}/wwlogin/sso/login", mock.url())).unwrap();
            u.query_pairs_mut()
                .append_pair("login_type", "ServiceApp")
                .append_pair("appid", &suite.suite_id)
                .append_pair("redirect_uri", CALLBACK)
                .append_pair("state", "s1");
            u.to_string()
        }
        Some(scope) => {
            let mut u = Url::parse(&format!("{}/connect/oauth2/authorize", mock.url())).unwrap();
            u.query_pairs_mut()
                .append_pair("appid", &suite.suite_id)
                .append_pair("redirect_uri", CALLBACK)
                .append_pair("response_type", "code")
                .append_pair("scope", scope)
                .append_pair("state", "s1");
            format!("{u}#wechat_redirect")
        }
    }
}

async fn code_for(url: &str, user: &str) -> String {
    let resp = http()
        .get(MockWechat::approve_url(url, user))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "{url}");
    let to = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    to.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn userinfo3rd(mock: &MockWechat, token: &str, code: &str) -> Value {
    http()
        .get(format!(
            "{}/cgi-bin/service/auth/getuserinfo3rd",
            mock.api_base()
        ))
        .query(&[("suite_access_token", token), ("code", code)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn ready_token(mock: &MockWechat, suite: &MockWecomSuite) -> String {
    let cb = callback_server(suite, "success").await;
    mock.set_push_url(&suite.suite_id, Some(&cb.url)).unwrap();
    mock.push_suite_ticket(&suite.suite_id).await.unwrap();
    let v = suite_token(mock, &token_body(suite, &last_ticket(&cb))).await;
    v["suite_access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn members_non_members_and_unauthorized_corps_through_the_suite() {
    // carol is a member of a second corp that has not installed the suite.
    let other = MockWecomCorp::new("ww7000000000000007", "1000002", "other-secret")
        .with_member(MockWecomMember::new("carol", "CarolLi"));
    let mock = MockWechat::start_with(
        MockConfig::default()
            .add_wecom_corp(other)
            .with_user("dave", "Dave"),
    )
    .await
    .unwrap();
    let suite = mock.wecom_suite().unwrap().clone();
    let tok = ready_token(&mock, &suite).await;
    let alice = mock.user("alice").unwrap();

    // Web login (ServiceApp): a member, no user_ticket.
    let web = login_url(&mock, &suite, None);
    let page = http().get(&web).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("ww6000000000000006 成员 LiAiLi"), "{page}");
    let info = userinfo3rd(&mock, &tok, &code_for(&web, "alice").await).await;
    assert_eq!(
        info,
        json!({"errcode": 0, "errmsg": "ok", "corpid": "ww6000000000000006", "userid": "LiAiLi",
               "open_userid": suite.open_userid_for(&alice)})
    );
    // A person in no corp: an openid.
    let info = userinfo3rd(&mock, &tok, &code_for(&web, "dave").await).await;
    assert_eq!(info["errcode"], 0);
    assert!(
        info["openid"].is_string() && info.get("userid").is_none(),
        "{info}"
    );
    // A member of a corp that has not authorized the suite: 41030.
    assert_wecom_error(
        &userinfo3rd(&mock, &tok, &code_for(&web, "carol").await).await,
        41030,
    );

    // In-app privateinfo (no agentid for a suite): a user_ticket for getuserdetail3rd.
    let in_app = login_url(&mock, &suite, Some("snsapi_privateinfo"));
    let code = code_for(&in_app, "alice").await;
    let info = userinfo3rd(&mock, &tok, &code).await;
    assert_eq!(info["userid"], "LiAiLi");
    assert_eq!(info["expires_in"], 7200);
    let ticket = info["user_ticket"].as_str().unwrap().to_owned();
    assert_wecom_error(&userinfo3rd(&mock, &tok, &code).await, 40029);
    let detail: Value = http()
        .post(format!(
            "{}/cgi-bin/service/auth/getuserdetail3rd",
            mock.api_base()
        ))
        .query(&[("suite_access_token", tok.as_str())])
        .json(&json!({"user_ticket": ticket}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["errcode"], 0);
    assert_eq!(detail["corpid"], "ww6000000000000006");
    assert_eq!(detail["userid"], "LiAiLi");
    assert_eq!(
        detail["name"], "LiAiLi",
        "third-party apps get the userid as name"
    );
    assert_eq!(detail["gender"], "2");
    assert_eq!(detail["avatar"], alice.headimgurl.as_str());
    assert!(detail.get("mobile").is_none() && detail.get("email").is_none());

    // Codes do not cross between the suite and a corp app.
    let corp = mock.wecom_corp().clone();
    let corp_login = format!(
        "{}/wwlogin/sso/login?login_type=CorpApp&appid={}&agentid={}&redirect_uri={}&state=s",
        mock.url(),
        corp.corp_id,
        corp.agent_id,
        url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
    );
    let corp_code = code_for(&corp_login, "alice").await;
    assert_wecom_error(&userinfo3rd(&mock, &tok, &corp_code).await, 40029);
    let corp_token: Value = http()
        .get(format!("{}/cgi-bin/gettoken", mock.api_base()))
        .query(&[("corpid", &corp.corp_id), ("corpsecret", &corp.secret)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let suite_code = code_for(&web, "alice").await;
    let v: Value = http()
        .get(format!("{}/cgi-bin/auth/getuserinfo", mock.api_base()))
        .query(&[
            ("access_token", corp_token["access_token"].as_str().unwrap()),
            ("code", suite_code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_wecom_error(&v, 40029);
}

#[tokio::test]
async fn suite_tokens_and_pages_answer_wecom_errors() {
    let mock = MockWechat::start().await.unwrap();
    let suite = mock.wecom_suite().unwrap().clone();
    let tok = ready_token(&mock, &suite).await;
    let info = format!("{}/cgi-bin/service/auth/getuserinfo3rd", mock.api_base());
    let missing: Value = http()
        .get(&info)
        .query(&[("code", "x")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_wecom_error(&missing, 41022);
    assert_wecom_error(&userinfo3rd(&mock, "nope", "x").await, 40082);
    assert_wecom_error(&userinfo3rd(&mock, &tok, "x").await, 40029);
    // Faults in WeCom's shape, and per-suite counts through the suite token.
    mock.inject(
        "cgi-bin/service/auth/getuserinfo3rd",
        wechat_auth_mock::Fault::Errcode(45009),
        1,
    );
    assert_wecom_error(&userinfo3rd(&mock, &tok, "x").await, 45009);
    // Four calls, two with this suite's token (the missing and the unknown token are nobody's).
    assert_eq!(mock.calls("cgi-bin/service/auth/getuserinfo3rd"), 4);
    assert_eq!(
        mock.app_calls(&suite.suite_id, "cgi-bin/service/auth/getuserinfo3rd"),
        2
    );
    // The suite's pages check its trusted domains (50001) and its id.
    let web = login_url(&mock, &suite, None);
    let evil = web.replace("127.0.0.1%3A3000", "evil.example");
    let resp = http().get(&evil).send().await.unwrap();
    assert_eq!(resp.headers()["x-mock-error"], "50001");
    let resp = http()
        .get(web.replace(&suite.suite_id, "ww0000000000000bad"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-mock-error"], "40086");
    mock.set_wecom_trusted_domains(&suite.suite_id, vec!["evil.example".into()])
        .unwrap();
    code_for(&evil, "alice").await;
    // The suite token expires after 7200 s: 42009.
    mock.set_push_url(&suite.suite_id, None).unwrap();
    mock.advance(Duration::from_secs(7201));
    assert_wecom_error(&userinfo3rd(&mock, &tok, "x").await, 42009);

    // /mock/config lists the suite with its callback and trusted domains.
    let cfg: Value = http()
        .get(format!("{}/mock/config", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = cfg["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "wecom_suite")
        .unwrap();
    assert_eq!(listed["suite_id"], suite.suite_id.as_str());
    assert_eq!(listed["suite_secret"], suite.suite_secret.as_str());
    assert_eq!(listed["token"], "mocksuitetoken");
    assert_eq!(listed["encoding_aes_key"], suite.encoding_aes_key.as_str());
    assert_eq!(listed["trusted_domains"], json!(["evil.example"]));
    assert_eq!(listed["push_url"], Value::Null);
    assert_eq!(listed["authorized_corps"], json!(["ww6000000000000006"]));
}

#[tokio::test]
async fn the_url_verification_sends_an_encrypted_echostr_and_wants_it_back_exactly() {
    let mock = MockWechat::start().await.unwrap();
    let suite = mock.wecom_suite().unwrap().clone();
    let url = format!("{}/mock/wecom/verify_url", mock.url());
    let (status, _) = post_json(url.clone(), &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no callback yet");

    let good = callback_server(&suite, "success").await;
    set_callback(&mock, &suite.suite_id, Some(&good.url)).await;
    let (status, v) = post_json(url.clone(), &json!({"suite_id": suite.suite_id})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["status"], 200);
    let answer = v["answer"].as_str().unwrap();
    assert!(
        answer.len() >= 19 && answer.chars().all(|c| c.is_ascii_digit()),
        "{v}"
    );

    let sloppy = callback_server(&suite, "newline").await;
    set_callback(&mock, &suite.suite_id, Some(&sloppy.url)).await;
    let (_, v) = post_json(url.clone(), &json!({})).await;
    assert_eq!(v["verified"], false, "a trailing newline fails: {v}");
    let (status, _) = post_json(url, &json!({"suite_id": "ww0000000000000bad"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(mock.calls("wecom/verify_url"), 2);
}
