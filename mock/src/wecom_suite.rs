//! WeCom third-party apps (第三方应用, protocol §27): the suite, its `suite_ticket` pushed
//! encrypted to the command callback (WeCom's crypto, ReceiveId = suite id) every 10 minutes
//! of the mock's clock or on `POST /mock/wecom/suite_ticket`, `service/get_suite_token`,
//! `service/auth/getuserinfo3rd` and `service/auth/getuserdetail3rd`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::{after, unix_secs};
use super::errors::{MockError, control_error, json as json_response};
use super::ids;
use super::params::Params;
use super::state::Shared;
use super::wecom::wecom_error;
use super::wecom_config::MockWecomSuite;
use super::wecom_state::{
    CodeScope, Owner, SUITE_TOKEN_TTL, SUITE_USER_TICKET_TTL, SuiteToken, TICKET_EVERY, TICKET_TTL,
    Ticket, UserTicket,
};
use super::wire::{self, SafeModeKey};

/// How often (real time) the mock looks whether a suite's 10 minutes have passed.
pub(crate) const TICKER_PERIOD: Duration = Duration::from_millis(500);
/// The most of a callback's answer the mock reads, and the most it reports.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
const MAX_ANSWER_CHARS: usize = 2048;
/// The counter every `suite_ticket` delivery increments (see `MockWechat::calls`).
pub(crate) const SUITE_PUSH_COUNTER: &str = "wecom/suite_ticket";
/// The counter every URL verification increments.
pub(crate) const SUITE_VERIFY_COUNTER: &str = "wecom/verify_url";

/// The report of one `suite_ticket` push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SuiteTicketReport {
    /// The suite.
    pub suite_id: String,
    /// Where the push went.
    pub push_url: String,
    /// How many deliveries were made (at most 3).
    pub deliveries: u32,
    /// Whether the callback answered `success` (HTTP 2xx).
    pub acknowledged: bool,
    /// The last delivery's HTTP status, if it got one.
    pub last_status: Option<u16>,
    /// Why the last delivery did not count, if it did not.
    pub last_error: Option<String>,
}

/// The decrypted `suite_ticket` message (protocol §27): one line, no spaces between tags.
pub(crate) fn ticket_xml(suite_id: &str, timestamp: u64, ticket: &str) -> String {
    format!(
        "<xml><SuiteId><![CDATA[{suite_id}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType>\
         <TimeStamp>{timestamp}</TimeStamp><SuiteTicket><![CDATA[{ticket}]]></SuiteTicket></xml>"
    )
}

/// WeCom's callback envelope: `ToUserName` (the suite id), `Encrypt`, `AgentID` (empty for
/// suite commands).
pub(crate) fn envelope_xml(to: &str, encrypt: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>\
         <AgentID><![CDATA[]]></AgentID></xml>"
    )
}

/// `Encrypt` and `msg_signature` of a WeCom callback message (WXBizMsgCrypt): AES-256-CBC
/// under the EncodingAESKey with ReceiveId `receive_id`, signed with SHA-1 over the sorted
/// token, timestamp, nonce and `Encrypt`.
pub(crate) fn seal(
    key: &SafeModeKey,
    token: &str,
    random: [u8; 16],
    msg: &str,
    receive_id: &str,
    timestamp: &str,
    nonce: &str,
) -> (String, String) {
    let encrypt = key.encrypt(random, msg, receive_id);
    let signature = wire::signature(&[token, timestamp, nonce, &encrypt]);
    (encrypt, signature)
}

impl Shared {
    /// The suite of a WeCom `suite_access_token` (for per-app call counts).
    pub(crate) fn suite_token_owner(&self, token: &str) -> Option<String> {
        let suite = self.lock().wecom.suites.tokens.get(token)?.suite;
        self.wecom_suites.get(suite).map(|s| s.suite_id.clone())
    }

    /// Makes a fresh ticket the suite's newest and pushes it to the command callback.
    pub(crate) async fn push_suite_ticket(
        &self,
        suite: usize,
    ) -> Result<SuiteTicketReport, MockError> {
        let cfg = &self.wecom_suites[suite];
        let push_url = self
            .lock()
            .push_urls
            .get(&cfg.suite_id)
            .cloned()
            .ok_or_else(|| MockError::NoPushUrl(cfg.suite_id.clone()))?;
        let key = SafeModeKey::new(&cfg.encoding_aes_key)
            .map_err(|e| MockError::Invalid(format!("suite {}: {e}", cfg.suite_id)))?;
        let (now, wall) = self.clock.now_and_wall();
        let ticket = ids::url_safe(64);
        self.lock().wecom.suites.tickets.insert(
            suite,
            Ticket {
                value: ticket.clone(),
                issued_at: now,
            },
        );
        let msg = ticket_xml(&cfg.suite_id, unix_secs(now), &ticket);
        let timestamp = unix_secs(wall).to_string();
        let nonce = rand::random_range(100_000_000..2_000_000_000u32).to_string();
        let (encrypt, signature) = seal(
            &key,
            &cfg.token,
            rand::random(),
            &msg,
            &cfg.suite_id,
            &timestamp,
            &nonce,
        );
        let body = envelope_xml(&cfg.suite_id, &encrypt);
        let query = [
            ("msg_signature", signature),
            ("timestamp", timestamp),
            ("nonce", nonce),
        ];
        let mut report = SuiteTicketReport {
            suite_id: cfg.suite_id.clone(),
            push_url: push_url.clone(),
            deliveries: 0,
            acknowledged: false,
            last_status: None,
            last_error: None,
        };
        while report.deliveries < super::scan::MAX_DELIVERIES && !report.acknowledged {
            report.deliveries += 1;
            {
                let mut inner = self.lock();
                *inner
                    .calls
                    .entry(SUITE_PUSH_COUNTER.to_owned())
                    .or_default() += 1;
                inner.count_for_app(SUITE_PUSH_COUNTER, &cfg.suite_id);
            }
            let sent = self
                .push_http
                .post(&push_url)
                .query(&query)
                .header(reqwest::header::CONTENT_TYPE, "text/xml;charset=UTF-8")
                .body(body.clone())
                .timeout(self.push_timeout)
                .send()
                .await;
            match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    report.last_status = Some(status);
                    let text = read_capped(resp).await;
                    if (200..300).contains(&status) && text.trim() == "success" {
                        report.acknowledged = true;
                        report.last_error = None;
                    } else {
                        let text: String = text.chars().take(MAX_ANSWER_CHARS).collect();
                        report.last_error = Some(format!(
                            "HTTP {status}, answer {text:?} (WeCom wants \"success\")"
                        ));
                    }
                }
                Err(e) => {
                    report.last_status = None;
                    report.last_error = Some(e.to_string());
                }
            }
        }
        Ok(report)
    }

    /// WeCom's URL verification of the command callback: a `GET` with `msg_signature`,
    /// `timestamp`, `nonce` and an encrypted `echostr` (ReceiveId = suite id); the callback
    /// must answer the decrypted plaintext exactly (no quotes, BOM or newline).
    pub(crate) async fn verify_suite_url(&self, suite: usize) -> Result<Value, MockError> {
        let cfg = &self.wecom_suites[suite];
        let push_url = self
            .lock()
            .push_urls
            .get(&cfg.suite_id)
            .cloned()
            .ok_or_else(|| MockError::NoPushUrl(cfg.suite_id.clone()))?;
        let key = SafeModeKey::new(&cfg.encoding_aes_key)
            .map_err(|e| MockError::Invalid(format!("suite {}: {e}", cfg.suite_id)))?;
        let (_, wall) = self.clock.now_and_wall();
        let timestamp = unix_secs(wall).to_string();
        let nonce = rand::random_range(100_000_000..2_000_000_000u32).to_string();
        let plain = rand::random_range(1_000_000_000_000_000_000..u64::MAX).to_string();
        let (echostr, signature) = seal(
            &key,
            &cfg.token,
            rand::random(),
            &plain,
            &cfg.suite_id,
            &timestamp,
            &nonce,
        );
        let query = [
            ("msg_signature", signature),
            ("timestamp", timestamp),
            ("nonce", nonce),
            ("echostr", echostr),
        ];
        {
            let mut inner = self.lock();
            *inner
                .calls
                .entry(SUITE_VERIFY_COUNTER.to_owned())
                .or_default() += 1;
            inner.count_for_app(SUITE_VERIFY_COUNTER, &cfg.suite_id);
        }
        let sent = self
            .push_http
            .get(&push_url)
            .query(&query)
            .timeout(self.push_timeout)
            .send()
            .await;
        let (status, answer, error) = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = read_capped(resp).await;
                (
                    Some(status),
                    Some(text.chars().take(MAX_ANSWER_CHARS).collect::<String>()),
                    None,
                )
            }
            Err(e) => (None, None, Some(e.to_string())),
        };
        let verified =
            status.is_some_and(|s| (200..300).contains(&s)) && answer.as_deref() == Some(&plain);
        Ok(json!({
            "suite_id": cfg.suite_id,
            "push_url": push_url,
            "verified": verified,
            "status": status,
            "answer": answer,
            "error": error,
        }))
    }

    /// Pushes a ticket for every suite whose 10 minutes (mock clock) have passed and which
    /// has a command callback.
    pub(crate) async fn push_due_tickets(&self) {
        let now = self.now();
        let due: Vec<usize> = {
            let mut inner = self.lock();
            let mut due = Vec::new();
            for (i, suite) in self.wecom_suites.iter().enumerate() {
                let has_url = inner.push_urls.contains_key(&suite.suite_id);
                let last = inner.wecom.suites.last_due.get(&i).copied().unwrap_or(now);
                if now.duration_since(last).unwrap_or_default() >= TICKET_EVERY {
                    inner.wecom.suites.last_due.insert(i, now);
                    if has_url {
                        due.push(i);
                    }
                }
            }
            due
        };
        for i in due {
            if let Err(e) = self.push_suite_ticket(i).await {
                tracing::debug!(error = %e, "mock wechat: scheduled suite_ticket push failed");
            }
        }
    }
}

/// The first [`MAX_ANSWER_BYTES`] of an answer, as text (what is left unread is dropped).
async fn read_capped(mut resp: reqwest::Response) -> String {
    let mut answer = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ANSWER_BYTES.saturating_sub(answer.len());
        answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if answer.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Runs the 10-minute `suite_ticket` schedule until the mock is gone.
pub(crate) async fn ticker(shared: Weak<Shared>) {
    let mut every = tokio::time::interval(TICKER_PERIOD);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(s) = shared.upgrade() else {
            return;
        };
        if s.wecom_suites.is_empty() {
            return;
        }
        s.push_due_tickets().await;
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteTicketReq {
    suite_id: Option<String>,
}

/// `POST /mock/wecom/suite_ticket` `{"suite_id"?}` → the [`SuiteTicketReport`] as JSON.
pub(crate) async fn push_ticket(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let suite = match suite_of_request(&s, &body) {
        Ok(i) => i,
        Err(resp) => return *resp,
    };
    match s.push_suite_ticket(suite).await {
        Ok(report) => json_response(&json!(report)),
        Err(e) => control_error(e),
    }
}

/// `POST /mock/wecom/verify_url` `{"suite_id"?}` → `{"suite_id","push_url","verified",
/// "status","answer","error"}`.
pub(crate) async fn verify_url(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let suite = match suite_of_request(&s, &body) {
        Ok(i) => i,
        Err(resp) => return *resp,
    };
    match s.verify_suite_url(suite).await {
        Ok(report) => json_response(&report),
        Err(e) => control_error(e),
    }
}

/// The suite a control request names (`{"suite_id"?}`; default the primary one).
fn suite_of_request(s: &Shared, body: &Bytes) -> Result<usize, Box<Response>> {
    let req: SuiteTicketReq = if body.iter().all(u8::is_ascii_whitespace) {
        SuiteTicketReq { suite_id: None }
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Box::new(control_error(format!("bad JSON body: {e}"))))?
    };
    match req.suite_id {
        None if s.wecom_suites.is_empty() => {
            Err(Box::new(control_error("this mock has no WeCom suite")))
        }
        None => Ok(0),
        Some(id) => s
            .wecom_suite(&id)
            .ok_or_else(|| Box::new(control_error(format!("unknown suite_id {id:?}")))),
    }
}

/// `POST /cgi-bin/service/get_suite_token` `{"suite_id","suite_secret","suite_ticket"}`
pub(crate) async fn get_suite_token(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return wecom_error(47001);
    };
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let Some(suite_id) = field("suite_id") else {
        return wecom_error(41021);
    };
    let Some(secret) = field("suite_secret") else {
        return wecom_error(41024);
    };
    let Some(ticket) = field("suite_ticket") else {
        return wecom_error(41023);
    };
    let Some(suite) = s.wecom_suite(suite_id) else {
        return wecom_error(40083);
    };
    if s.wecom_suites[suite].suite_secret != secret {
        return wecom_error(40080);
    }
    let now = s.now();
    let mut inner = s.lock();
    let newest = inner.wecom.suites.tickets.get(&suite);
    let fresh = newest.is_some_and(|t| t.value == ticket && after(t.issued_at, TICKET_TTL) > now);
    if !fresh {
        drop(inner);
        return wecom_error(40085);
    }
    let token = ids::url_safe(128);
    let record = SuiteToken {
        suite,
        expires_at: after(now, SUITE_TOKEN_TTL),
    };
    inner.wecom.suites.tokens.insert(token.clone(), record, now);
    drop(inner);
    let mut out = json!({ "errcode": 0, "errmsg": "ok" });
    out["suite_access_token"] = json!(token);
    out["expires_in"] = json!(SUITE_TOKEN_TTL.as_secs());
    json_response(&out)
}

/// The suite of a live `suite_access_token`, or the errcode for it.
fn suite_of(s: &Shared, p: &Params) -> Result<usize, i64> {
    let token = p.get("suite_access_token").ok_or(41022)?;
    let now = s.now();
    match s.lock().wecom.suites.tokens.get(token) {
        None => Err(40082),
        Some(t) if t.expires_at <= now => Err(42009),
        Some(t) => Ok(t.suite),
    }
}

/// `GET /cgi-bin/service/auth/getuserinfo3rd?suite_access_token=…&code=…`
pub(crate) async fn getuserinfo3rd(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
) -> Response {
    let p = Params::parse(q.as_deref());
    let suite = match suite_of(&s, &p) {
        Ok(i) => i,
        Err(code) => return wecom_error(code),
    };
    let Some(code) = p.get("code") else {
        return wecom_error(41008);
    };
    let now = s.now();
    let record = {
        let mut inner = s.lock();
        match inner.wecom.codes.get_mut(code) {
            Some(r) if !r.used && r.expires_at > now && r.owner == Owner::Suite(suite) => {
                r.used = true;
                Some(r.clone())
            }
            _ => None,
        }
    };
    let Some(record) = record else {
        return wecom_error(40029);
    };
    let Some(user) = s.user(&record.user) else {
        return wecom_error(40029);
    };
    let cfg = &s.wecom_suites[suite];
    if let Some((corp, member)) = s.wecom_member(Owner::Suite(suite), &user.name) {
        let mut out = json!({ "errcode": 0, "errmsg": "ok" });
        out["corpid"] = json!(s.wecom_corps[corp].corp_id);
        out["userid"] = json!(member.user_id);
        out["open_userid"] = json!(cfg.open_userid_for(user));
        if record.scope == CodeScope::PrivateInfo {
            let ticket = ids::url_safe(86);
            let t = UserTicket {
                owner: Owner::Suite(suite),
                corp,
                user: user.name.clone(),
                expires_at: after(now, SUITE_USER_TICKET_TTL),
            };
            s.lock().wecom.tickets.insert(ticket.clone(), t, now);
            out["user_ticket"] = json!(ticket);
            out["expires_in"] = json!(SUITE_USER_TICKET_TTL.as_secs());
        }
        return json_response(&out);
    }
    // A member of a corp that did not install the suite.
    if s.wecom_corps.iter().any(|c| c.member(&user.name).is_some()) {
        return wecom_error(41030);
    }
    let mut out = json!({ "errcode": 0, "errmsg": "ok" });
    out["openid"] = json!(user.openid_for(&cfg.suite_id));
    json_response(&out)
}

/// `POST /cgi-bin/service/auth/getuserdetail3rd?suite_access_token=…` `{"user_ticket"}`
pub(crate) async fn getuserdetail3rd(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref());
    let suite = match suite_of(&s, &p) {
        Ok(i) => i,
        Err(code) => return wecom_error(code),
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return wecom_error(47001);
    };
    let Some(ticket) = body.get("user_ticket").and_then(Value::as_str) else {
        return wecom_error(super::wecom::BAD_USER_TICKET);
    };
    let now = s.now();
    let found = match s.lock().wecom.tickets.get(ticket) {
        Some(t) if t.expires_at > now && t.owner == Owner::Suite(suite) => {
            Some((t.corp, t.user.clone()))
        }
        _ => None,
    };
    let Some((corp, name)) = found else {
        return wecom_error(super::wecom::BAD_USER_TICKET);
    };
    let (Some(member), Some(user)) = (s.wecom_corps[corp].member(&name), s.user(&name)) else {
        return wecom_error(super::wecom::BAD_USER_TICKET);
    };
    let mut out = json!({ "errcode": 0, "errmsg": "ok" });
    out["corpid"] = json!(s.wecom_corps[corp].corp_id);
    out["userid"] = json!(member.user_id);
    // Since 2020-06-30 third-party apps get the userid as `name` (protocol §27).
    out["name"] = json!(member.user_id);
    out["gender"] = json!(member.gender);
    out["avatar"] = json!(user.headimgurl);
    out["qr_code"] = json!(format!(
        "https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=vc{}",
        ids::alnum(16).to_ascii_lowercase()
    ));
    json_response(&out)
}

impl super::MockWechat {
    /// The primary WeCom third-party suite (default [`MockWecomSuite::default_suite`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.wecom_suite().unwrap().suite_id, "ww8000000000000008");
    /// # Ok(()) }
    /// ```
    pub fn wecom_suite(&self) -> Option<&MockWecomSuite> {
        self.shared.wecom_suites.first()
    }

    /// Pushes a fresh `suite_ticket` to the suite's command callback now (set it with
    /// [`MockWechat::set_push_url`](super::MockWechat::set_push_url) and the suite id), as
    /// `POST /mock/wecom/suite_ticket` does. The ticket becomes the suite's newest whether or
    /// not the callback answers.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use wechat_auth_mock::MockError;
    ///
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let suite = mock.wecom_suite().unwrap().suite_id.clone();
    /// assert!(matches!(mock.push_suite_ticket(&suite).await, Err(MockError::NoPushUrl(_))));
    /// # Ok(()) }
    /// ```
    pub async fn push_suite_ticket(&self, suite_id: &str) -> Result<SuiteTicketReport, MockError> {
        let suite = self
            .shared
            .wecom_suite(suite_id)
            .ok_or_else(|| MockError::UnknownApp(suite_id.to_owned()))?;
        self.shared.push_suite_ticket(suite).await
    }

    /// The suite's newest `suite_ticket`, if one was pushed (what `get_suite_token` takes).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(mock.suite_ticket("ww8000000000000008").is_none());
    /// # Ok(()) }
    /// ```
    pub fn suite_ticket(&self, suite_id: &str) -> Option<String> {
        let suite = self.shared.wecom_suite(suite_id)?;
        let inner = self.shared.lock();
        inner
            .wecom
            .suites
            .tickets
            .get(&suite)
            .map(|t| t.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protocol's WXBizMsgCrypt vector (§7.4, which reproduces wechatpy's WeCom vector):
    /// the ReceiveId is the id at the end of the plaintext, here `wx0000000000000001`.
    #[test]
    fn seal_reproduces_the_wxbizmsgcrypt_vector() {
        let key = SafeModeKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        let msg = "<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName><FromUserName><![CDATA[oMOCKopenid0000000000000001]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_login_abc123]]></EventKey><Ticket><![CDATA[TICKETVALUE]]></Ticket></xml>";
        let (encrypt, signature) = seal(
            &key,
            "mocktoken",
            *b"0123456789abcdef",
            msg,
            "wx0000000000000001",
            "1700000000",
            "123456789",
        );
        assert_eq!(
            encrypt,
            "Q3stYC6hdFzMh9T8HCvyDI8ESvIh6GlJlvJvJI+u3zNXPc8LEaBeg0XCY14ZyhmFCtoDmoVbtM7pxJSNJZib4121LuvUFR+0N9vlDcLlhmathBaMia00ZJrJJeE/GMo4iwvH9d6EWtM0eKEl7q2xqhLTDW/59UDOSW9z4NW3QHc3QIU/8oUSikiSzLW6yw85+HwbikXc6gJthk/s/M+5fIwMlxHgq2dxK9SqocKpl2nNemp4ROjav719YqMn5+7UB4zpmFHooGbvfk6whBzr863dzRcf0shl+Ra65lm+eI0/mBpSDPNULPp5CWth/KF73kADeCMaRiX1pa7ftynMLcQXjE6gX6uB6R3AaCt82v7zEBFqTDBiKRQOM8JoV5CbOEkpIPRnAzuo5RpRXIm+uU3mUdD9qcfOIHHpotcgv2FgWQNzFK02sfV7ZjtbStNRW0VfdWqH333QPtkTSGC5Em0RdvGuDl9clOwp803CnENyj5EzjtP5dJ89tiF/BTyP"
        );
        assert_eq!(signature, "352bd5aed7ce5cfe349e956946afa43131b7fd3a");
        // A suite's ReceiveId comes back out of the envelope.
        let suite = MockWecomSuite::default_suite();
        let key = SafeModeKey::new(&suite.encoding_aes_key).unwrap();
        let xml = ticket_xml(&suite.suite_id, 1, "T");
        let (encrypt, _) = seal(&key, &suite.token, [7; 16], &xml, &suite.suite_id, "1", "2");
        assert_eq!(
            key.decrypt(&encrypt).unwrap(),
            (xml, suite.suite_id.clone())
        );
    }
}
