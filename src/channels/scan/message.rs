//! Message-code login (`via=message`): for any Official Account with a push URL, including an
//! unverified subscription account, which has no parametric QR codes, no web authorization
//! and no `cgi-bin/user/info` (protocol §25).
//!
//! - `POST PREFIX/scan?via=message` draws a 6-digit code no other pending login of the
//!   account holds, and binds it to the browser like every scan (the signed per-scan cookie).
//! - The user sends the code to the account (alone, or in a short message such as
//!   `登录 123456`). The push channel hands every text message to
//!   [`ScanRecords::message`]: a pending code binds the scene to that WeChat user (once),
//!   and the passive reply names the site, the requesting browser and OS, IP and time, and
//!   asks `回复 1 确认登录，回复 0 取消`; the browser's poll turns `scanned`.
//! - The same user's `1` confirms (on_login runs; the unionid is looked up only for a
//!   verified account), `0` refuses. Only the bound user's answer counts: the answer is
//!   looked up by the sender's openid (a per-user pending-answer record), so anyone else's
//!   `1` is an ordinary message for the app.
//! - Wrong codes are bounded per WeChat user and per account per minute; past a bound,
//!   code-looking messages are answered "尝试过于频繁，请稍后再试" and not matched. The
//!   per-account bound is on wrong codes only, and stops only users who sent a wrong code
//!   in the same minute: a flood never blocks the others' logins.
//!
//! Records (all in the store, so the push may land on any instance; single-key operations
//! only, so they work on a Redis Cluster):
//! - the scene, `wechat-auth:APPID:scan:{ID}`, with the code in its value;
//! - the code's index, `Key::hashed(APPID, "message-code", CODE)` → the scene id (the code
//!   never appears in a key), written with `set_if_absent` (unique among pending codes);
//! - the scene's claim (`…:scan:{ID}:claim` → the openid that sent the code first);
//! - the sender's pending answer, `wechat-auth:APPID:message-answer:{OPENID}` → the scene id,
//!   taken (atomically) by the answer, so one `1` confirms once;
//! - the wrong-code counters, per user and per account, per minute.

use super::*;
use crate::core::store::Deferred;
use crate::core::store::StoreError;

/// Digits in a code.
pub(crate) const CODE_LEN: usize = 6;
/// The longest text message (in characters) read for a code: longer messages are the
/// account's own conversation, whatever numbers they hold.
const MAX_CODE_MESSAGE_CHARS: usize = 32;
/// Wrong codes a WeChat user may send per minute.
pub(crate) const WRONG_PER_USER: u64 = 5;
/// Wrong codes the account may receive per minute, all users together.
pub(crate) const WRONG_PER_ACCOUNT: u64 = 60;
/// The window of the wrong-code counters, seconds.
const WINDOW: u64 = 60;
/// Codes drawn before a start gives up (each taken one is another pending login's).
const DRAWS: usize = 20;
/// The most bytes of a passive text reply (WeChat's limit).
pub(crate) const MAX_REPLY_BYTES: usize = 2048;
/// The longest `on_login` refusal message quoted in a reply, in characters.
const MAX_QUOTED_CHARS: usize = 200;
/// The reply past a wrong-code bound.
pub(crate) const TOO_MANY: &str = "尝试过于频繁，请稍后再试";

/// Whether message-code login is possible: an Official Account with a push token.
pub(super) fn ready(auth: &Scan) -> Result<(), Failure> {
    match &auth.settings.official_account {
        Some(_) if auth.settings.oa_push => Ok(()),
        _ => Err(Failure::ChannelOff(
            "message-code (it needs WECHAT_OA_APP_ID, WECHAT_OA_APP_SECRET and WECHAT_OA_TOKEN)",
        )),
    }
}

/// The JSON answer of `POST scan?via=message`.
#[derive(Serialize)]
struct Started<'a> {
    id: &'a str,
    code: &'a str,
    expires_in: u64,
    via: Via,
    account: Account<'a>,
}

/// The account the user sends the code to.
#[derive(Serialize)]
struct Account<'a> {
    name: Option<&'a str>,
    qr_image_url: Option<&'a str>,
}

/// `{"id","code","expires_in","via":"message","account":{"name","qr_image_url"}}`.
pub(super) fn started(auth: &Scan, id: &str, scene: &Scene, expires_in: u64) -> Response<Body> {
    respond::json(
        StatusCode::OK,
        &Started {
            id,
            code: scene.code.as_deref().unwrap_or(""),
            expires_in,
            via: Via::Message,
            account: Account {
                name: auth.settings.oa_name.as_deref(),
                qr_image_url: auth.settings.oa_qr_image_url.as_deref(),
            },
        },
    )
}

/// The code in a text message: the message's one 6-digit number (ASCII digits, with no
/// digit right before or after it), in a message of at most
/// [`MAX_CODE_MESSAGE_CHARS`] characters. `None` when there is none, or more than one
/// different (one message is one guess).
pub(crate) fn code_in(text: &str) -> Option<&str> {
    let text = text.trim();
    if text.chars().count() > MAX_CODE_MESSAGE_CHARS {
        return None;
    }
    let mut found: Option<&str> = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i - start == CODE_LEN {
            let code = &text[start..i];
            match found {
                Some(other) if other != code => return None,
                _ => found = Some(code),
            }
        }
    }
    found
}

/// An answer to a pending login: `1` (confirm) or `0` (cancel), alone (full-width too).
pub(crate) fn answer_in(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "１" => Some(true),
        "0" | "０" => Some(false),
        _ => None,
    }
}

/// Whether `openid` looks like an openid: 1..=64 characters of `[A-Za-z0-9_-]`.
fn valid_openid(openid: &str) -> bool {
    (1..=64).contains(&openid.len())
        && openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The index of a pending code (hashed: the code is not in the key).
fn code_key(appid: &str, code: &str) -> Key {
    Key::hashed(appid, "message-code", code)
}

/// The login `openid` is asked to answer (`1`/`0`).
fn answer_key(appid: &str, openid: &str) -> Key {
    Key::of(appid, "message-answer", openid)
}

/// `openid`'s wrong codes in minute `window`.
fn wrong_user_key(appid: &str, openid: &str, window: u64) -> Key {
    Key::of(appid, "message-wrong", &format!("{openid}.{window}"))
}

/// The account's wrong codes in minute `window`.
fn wrong_account_key(appid: &str, window: u64) -> Key {
    Key::of(appid, "message-wrong-all", &window.to_string())
}

/// A fresh random code of [`CODE_LEN`] decimal digits.
fn random_code() -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random_range(0..1_000_000);
    format!("{n:06}")
}

/// What the push channel does with a text message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MessageOutcome {
    /// Not a login: the app's (`on_push`, the forward backend).
    NotLogin,
    /// A login's: this text is the passive reply.
    Reply(String),
    /// The store failed before anything was decided: let WeChat deliver it again.
    Retry,
}

/// What a reply tells the user.
#[derive(Debug)]
pub(crate) enum Told<'a> {
    /// The code was received: who asked, and `回复 1 确认登录，回复 0 取消`.
    Prompt(Option<&'a Requester>),
    /// `1`: the browser is logged in.
    Confirmed,
    /// `0`: the login is cancelled.
    Cancelled,
    /// `on_login` refused the user, with its message.
    Refused(&'a str),
    /// Another WeChat user sent this code first.
    Taken,
    /// Past a wrong-code bound.
    TooMany,
}

/// `&`, `<` and `>` as entities: a value in a text reply never becomes markup (WeChat shows
/// `<a href>` in text replies as a link).
fn text_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `s`.
fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// The words of a reply about `site`'s login, every value escaped, within
/// [`MAX_REPLY_BYTES`].
pub(crate) fn reply_text(site: &str, told: &Told<'_>) -> String {
    let site = text_escape(site);
    let text = match told {
        Told::Prompt(Some(requester)) => format!(
            "{site} 收到登录请求：\n{}\n\n回复 1 确认登录，回复 0 取消\n如果不是您本人在这台电脑上操作，请回复 0。",
            text_escape(&requester.describe())
        ),
        Told::Prompt(None) => {
            format!("{site} 收到登录请求。\n\n回复 1 确认登录，回复 0 取消")
        }
        Told::Confirmed => format!("已确认登录 {site}，请回到网页继续。"),
        Told::Cancelled => format!("已取消登录 {site}。"),
        Told::Refused(message) => format!(
            "{site} 未能完成登录：{}",
            text_escape(clip(message, MAX_QUOTED_CHARS))
        ),
        Told::Taken => format!(
            "{site} 的这个登录码已被其他微信使用，不能再用它登录。\n如果是您要登录，请在网页上获取新的登录码。"
        ),
        Told::TooMany => TOO_MANY.to_owned(),
    };
    fit(text)
}

/// `text` cut to [`MAX_REPLY_BYTES`] at a character boundary (and never inside an entity).
fn fit(mut text: String) -> String {
    if text.len() <= MAX_REPLY_BYTES {
        return text;
    }
    let mut end = MAX_REPLY_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // An entity cut in half would show as `&am`: drop the half.
    if let Some(amp) = text[..end].rfind('&')
        && !text[amp..end].contains(';')
    {
        end = amp;
    }
    text.truncate(end);
    text
}

/// A counter's value (the store keeps it in decimal ASCII); 0 when absent.
async fn count(store: &dyn Store, key: &Key) -> Result<u64, StoreError> {
    Ok(store
        .get(key)
        .await?
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse().ok())
        .unwrap_or(0))
}

impl ScanRecords {
    /// Whether text messages may be logins (an Official Account with a push token).
    pub(crate) fn takes_messages(&self) -> bool {
        self.message_login && self.official_account.is_some()
    }

    /// Draws a code for scene `id`, unique among the account's pending codes, and keeps
    /// its index for the scene's life.
    pub(super) async fn draw_code(&self, id: &str) -> Result<String, Failure> {
        let appid = self
            .official_account
            .as_deref()
            .ok_or(Failure::ChannelOff("message-code"))?;
        for _ in 0..DRAWS {
            let code = random_code();
            if self
                .store
                .set_if_absent(&code_key(appid, &code), id.as_bytes().to_vec(), self.ttl)
                .await?
            {
                return Ok(code);
            }
        }
        tracing::warn!("no free message code after {DRAWS} draws: too many pending logins");
        Err(ScanFailure::NoFreeCode.into())
    }

    /// Frees `code` when it still names scene `id` (best effort: it expires anyway).
    pub(super) async fn forget_code(&self, code: &str, id: &str) {
        let Some(appid) = self.official_account.as_deref() else {
            return;
        };
        if let Err(e) = self
            .store
            .delete_if_eq(&code_key(appid, code), id.as_bytes())
            .await
        {
            tracing::warn!(error = %e, "could not free a used message code; it expires by itself");
        }
    }

    /// A text message `text` from `openid`: a code, an answer, or the app's.
    pub(crate) async fn message(&self, openid: &str, text: &str) -> MessageOutcome {
        let Some(appid) = self.official_account.as_deref() else {
            return MessageOutcome::NotLogin;
        };
        if !self.takes_messages() || !valid_openid(openid) {
            return MessageOutcome::NotLogin;
        }
        let outcome = if let Some(yes) = answer_in(text) {
            self.answer(appid, openid, yes).await
        } else if let Some(code) = code_in(text) {
            self.code(appid, openid, code).await
        } else {
            return MessageOutcome::NotLogin;
        };
        outcome.unwrap_or_else(|e| {
            tracing::error!(error = %e, "store unavailable while handling a message-code login");
            MessageOutcome::Retry
        })
    }

    fn reply(&self, told: &Told<'_>) -> MessageOutcome {
        MessageOutcome::Reply(reply_text(&self.public_host, told))
    }

    /// A code-looking message: bounded, then matched.
    async fn code(
        &self,
        appid: &str,
        openid: &str,
        code: &str,
    ) -> Result<MessageOutcome, StoreError> {
        let window = now_unix() / WINDOW;
        let mine = count(&*self.store, &wrong_user_key(appid, openid, window)).await?;
        if mine >= WRONG_PER_USER {
            tracing::info!("message code from a user past the wrong-code bound: not matched");
            return Ok(self.reply(&Told::TooMany));
        }
        if mine > 0
            && count(&*self.store, &wrong_account_key(appid, window)).await? >= WRONG_PER_ACCOUNT
        {
            tracing::info!(
                "message code during a wrong-code flood from a user who sent a wrong one: not matched"
            );
            return Ok(self.reply(&Told::TooMany));
        }
        let id = self
            .store
            .get(&code_key(appid, code))
            .await?
            .and_then(|v| String::from_utf8(v).ok())
            .filter(|id| valid_id(id));
        let found = match &id {
            Some(id) => match self.key(id) {
                Some(key) => self
                    .load(&key)
                    .await
                    .map_err(|e| StoreError::unavailable(e.to_string()))?
                    .filter(|s| s.via == Via::Message && s.code.as_deref() == Some(code))
                    .map(|s| (key, s)),
                None => None,
            },
            None => None,
        };
        let (Some(id), Some((key, scene))) = (id, found) else {
            return self.wrong(appid, openid, window).await;
        };
        self.bind(appid, openid, &id, &key, scene).await
    }

    /// A code that matches nothing: counted; past the account's bound, answered.
    async fn wrong(
        &self,
        appid: &str,
        openid: &str,
        window: u64,
    ) -> Result<MessageOutcome, StoreError> {
        let ttl = Duration::from_secs(2 * WINDOW);
        let mine = self
            .store
            .increment(&wrong_user_key(appid, openid, window), ttl)
            .await?;
        let all = self
            .store
            .increment(&wrong_account_key(appid, window), ttl)
            .await?;
        tracing::debug!(mine, all, "message code matches no pending login");
        if mine > WRONG_PER_USER || all > WRONG_PER_ACCOUNT {
            return Ok(self.reply(&Told::TooMany));
        }
        Ok(MessageOutcome::NotLogin)
    }

    /// Binds the pending `scene` to `openid` (once) and asks for the answer.
    async fn bind(
        &self,
        appid: &str,
        openid: &str,
        id: &str,
        key: &Key,
        mut scene: Scene,
    ) -> Result<MessageOutcome, StoreError> {
        match &scene.status {
            SceneStatus::Pending => {}
            SceneStatus::Scanned { openid: who } if who == openid => {
                // The same user sending the code again: asked again.
                return Ok(self.reply(&Told::Prompt(scene.requester.as_ref())));
            }
            _ => return Ok(self.reply(&Told::Taken)),
        }
        let left = Duration::from_secs(scene.expires_at.saturating_sub(now_unix()).max(1));
        let claim = key.claim();
        let me = openid.as_bytes().to_vec();
        if !self.store.set_if_absent(&claim, me.clone(), left).await? {
            let first = self.store.get(&claim).await?;
            return Ok(if first.as_deref() == Some(openid.as_bytes()) {
                self.reply(&Told::Prompt(scene.requester.as_ref()))
            } else {
                self.reply(&Told::Taken)
            });
        }
        let answer = answer_key(appid, openid);
        if let Err(e) = self.store.set(&answer, id.as_bytes().to_vec(), left).await {
            let _ = self.store.delete_if_eq(&claim, &me).await;
            return Err(e);
        }
        scene.status = SceneStatus::Scanned {
            openid: openid.to_owned(),
        };
        if let Err(e) = self.save(key, &scene).await {
            let _ = self.store.delete_if_eq(&answer, id.as_bytes()).await;
            let _ = self.store.delete_if_eq(&claim, &me).await;
            return Err(StoreError::unavailable(e.to_string()));
        }
        tracing::debug!("message code received; waiting for the user's answer");
        Ok(self.reply(&Told::Prompt(scene.requester.as_ref())))
    }

    /// `openid`'s `1` (`yes`) or `0`: the login it was asked about, if any.
    async fn answer(
        &self,
        appid: &str,
        openid: &str,
        yes: bool,
    ) -> Result<MessageOutcome, StoreError> {
        let answer = answer_key(appid, openid);
        // Taken: one answer decides, on whichever instance it lands.
        let Some(id) = self
            .store
            .take(&answer)
            .await?
            .and_then(|v| String::from_utf8(v).ok())
            .filter(|id| valid_id(id))
        else {
            return Ok(MessageOutcome::NotLogin);
        };
        let Some(key) = self.key(&id) else {
            return Ok(MessageOutcome::NotLogin);
        };
        let put_back = |left: u64| {
            let (answer, id) = (answer.clone(), id.clone());
            async move {
                let ttl = Duration::from_secs(left.max(1));
                if let Err(e) = self.store.set(&answer, id.into_bytes(), ttl).await {
                    tracing::warn!(error = %e, "could not restore a pending message-code answer");
                }
            }
        };
        let scene = match self.load(&key).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(MessageOutcome::NotLogin),
            Err(e) => {
                put_back(self.ttl.as_secs()).await;
                return Err(StoreError::unavailable(e.to_string()));
            }
        };
        let left = scene.expires_at.saturating_sub(now_unix());
        match &scene.status {
            SceneStatus::Scanned { openid: who } if who == openid && scene.via == Via::Message => {}
            // Not (or no longer) this user's login to answer.
            _ => return Ok(MessageOutcome::NotLogin),
        }
        let keep = Deferred::default();
        let status = if yes {
            match self.decide(Via::Message, openid.to_owned(), &keep).await {
                Some(status) => status,
                None => return Ok(MessageOutcome::NotLogin),
            }
        } else {
            SceneStatus::Refused {
                message: "已在微信中取消登录".to_owned(),
            }
        };
        let mut scene = scene;
        scene.status = status;
        if let Err(e) = self.save_with(&key, &scene, keep.take()).await {
            put_back(left).await;
            return Err(StoreError::unavailable(e.to_string()));
        }
        if let Some(code) = &scene.code {
            // Single use: answered, the code means nothing any more.
            self.forget_code(code, &id).await;
        }
        Ok(match &scene.status {
            SceneStatus::Confirmed { .. } => {
                tracing::debug!("message-code login confirmed");
                self.reply(&Told::Confirmed)
            }
            SceneStatus::Refused { message } if yes => self.reply(&Told::Refused(message)),
            _ => self.reply(&Told::Cancelled),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_one_six_digit_number_of_a_short_message() {
        assert_eq!(code_in("123456"), Some("123456"));
        assert_eq!(code_in("  123456\n"), Some("123456"));
        assert_eq!(code_in("登录 123456"), Some("123456"));
        assert_eq!(code_in("登录123456"), Some("123456"));
        assert_eq!(code_in("code: 012345."), Some("012345"));
        assert_eq!(
            code_in("123456 123456"),
            Some("123456"),
            "the same code twice"
        );
        assert_eq!(code_in("1234567"), None, "seven digits are not a code");
        assert_eq!(code_in("12345"), None);
        assert_eq!(code_in("12345a6"), None);
        assert_eq!(
            code_in("123456 654321"),
            None,
            "two codes: one message, one guess"
        );
        assert_eq!(
            code_in("１２３４５６"),
            None,
            "full-width digits are not read"
        );
        assert_eq!(code_in(""), None);
        assert_eq!(code_in("你好"), None);
        assert_eq!(code_in("1"), None);
        let long = format!("{} 123456", "很长的消息".repeat(10));
        assert_eq!(code_in(&long), None, "a long message is a conversation");
        assert_eq!(code_in("1234561234567"), None);
        assert_eq!(code_in("电话 13800138000 验证 123456"), Some("123456"));
    }

    #[test]
    fn answers_are_1_or_0_alone() {
        assert_eq!(answer_in("1"), Some(true));
        assert_eq!(answer_in(" 0 \n"), Some(false));
        assert_eq!(answer_in("１"), Some(true));
        for not in ["10", "01", "1 1", "yes", "", "确认", "11"] {
            assert_eq!(answer_in(not), None, "{not:?}");
        }
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = random_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(code_in(&c), Some(c.as_str()));
        }
    }

    #[test]
    fn code_keys_hide_the_code() {
        let k = code_key("wx5", "123456");
        assert!(k.starts_with("wechat-auth:wx5:message-code:{"), "{k:?}");
        assert!(!k.contains("123456"));
        assert_eq!(
            &*answer_key("wx5", "oUser"),
            "wechat-auth:wx5:message-answer:{oUser}"
        );
        assert_ne!(wrong_user_key("wx5", "o", 1), wrong_user_key("wx5", "o", 2));
    }

    fn requester(ua: &str, ip: &str) -> Requester {
        Requester {
            ua: ua.into(),
            ip: Some(ip.into()),
            at: 0,
        }
    }

    #[test]
    fn the_prompt_names_site_browser_ip_and_time_and_asks_for_1_or_0() {
        let r = requester(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.58 Safari/537.36",
            "203.0.113.7",
        );
        let t = reply_text("example.com", &Told::Prompt(Some(&r)));
        assert!(t.starts_with("example.com 收到登录请求"), "{t}");
        assert!(t.contains("Chrome 130.0 · Linux"), "{t}");
        assert!(t.contains("IP：203.0.113.7"), "{t}");
        assert!(t.contains("1970-01-01 08:00:00（北京时间）"), "{t}");
        assert!(t.contains("回复 1 确认登录，回复 0 取消"), "{t}");
        assert!(reply_text("example.com", &Told::Confirmed).contains("已确认登录 example.com"));
        assert!(reply_text("example.com", &Told::Cancelled).contains("已取消登录"));
        assert_eq!(reply_text("example.com", &Told::TooMany), TOO_MANY);
    }

    #[test]
    fn replies_escape_every_value_and_name_only_known_browsers() {
        let r = requester(
            r#"Mozilla/5.0 (<a href="https://evil.example/">CLICK</a>;FOMA;)"#,
            "203.0.113.7",
        );
        let t = reply_text("ex<b>&.com", &Told::Prompt(Some(&r)));
        assert!(t.starts_with("ex&lt;b&gt;&amp;.com"), "{t}");
        assert!(!t.contains('<') && !t.contains("evil"), "{t}");
        assert!(t.contains("未知浏览器"), "{t}");
        let refused = reply_text("ex.com", &Told::Refused("<a href=\"x\">封禁</a>"));
        assert!(!refused.contains('<'), "{refused}");
        assert!(
            refused.contains("&lt;a href=\"x\"&gt;封禁&lt;/a&gt;"),
            "{refused}"
        );
    }

    #[test]
    fn replies_stay_within_2048_bytes() {
        let site = "a".repeat(253);
        let r = requester(&"Mozilla/5.0 ".repeat(100), "2001:db8::ffff:ffff:ffff:ffff");
        for told in [
            Told::Prompt(Some(&r)),
            Told::Prompt(None),
            Told::Confirmed,
            Told::Cancelled,
            Told::Taken,
            Told::TooMany,
        ] {
            assert!(reply_text(&site, &told).len() <= MAX_REPLY_BYTES);
        }
        let huge = "<&>".repeat(5000);
        let t = reply_text(&"<".repeat(1000), &Told::Refused(&huge));
        assert!(t.len() <= MAX_REPLY_BYTES, "{}", t.len());
        assert!(!t.contains('<'));
        // A cut never leaves half an entity.
        let cut = fit(format!("{}&amp;", "x".repeat(MAX_REPLY_BYTES - 2)));
        assert_eq!(cut, "x".repeat(MAX_REPLY_BYTES - 2));
        let zh = fit("字".repeat(1000));
        assert!(zh.len() <= MAX_REPLY_BYTES && zh.chars().all(|c| c == '字'));
    }

    /// Records for the unverified account, on a memory store, with one pending code.
    async fn pending() -> (ScanRecords, String, String) {
        let cfg = crate::config::WechatConfig::builder()
            .with_public_url("https://example.com")
            .with_session_secret("0123456789abcdef0123456789abcdef")
            .with_official_account("wx5", "s")
            .with_oa_push("token", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"))
            .with_oa_verified(false)
            .build()
            .unwrap();
        let records = ScanRecords::new(&Mount::new(cfg));
        let id = random_token(ID_LEN);
        let code = records.draw_code(&id).await.unwrap();
        let scene = Scene {
            via: Via::Message,
            browser: "b".into(),
            return_to: "/".into(),
            url: String::new(),
            expires_at: now_unix() + 300,
            requester: None,
            code: Some(code.clone()),
            status: SceneStatus::Pending,
        };
        records
            .save(&records.key(&id).unwrap(), &scene)
            .await
            .unwrap();
        // Not across a minute: the counters are per minute.
        while now_unix() % WINDOW > WINDOW - 5 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        (records, id, code)
    }

    fn other_than(code: &str) -> &'static str {
        if code == "000000" { "000001" } else { "000000" }
    }

    #[tokio::test]
    async fn wrong_codes_are_bounded_per_user() {
        let (records, _, code) = pending().await;
        let wrong = other_than(&code);
        for _ in 0..WRONG_PER_USER {
            assert_eq!(
                records.message("oGuess", wrong).await,
                MessageOutcome::NotLogin
            );
        }
        // Past the bound: told to wait, and even the right code is not matched.
        for text in [wrong, code.as_str()] {
            assert_eq!(
                records.message("oGuess", text).await,
                MessageOutcome::Reply(TOO_MANY.into())
            );
        }
        // Someone else is not held back.
        let MessageOutcome::Reply(r) = records.message("oAlice", &code).await else {
            panic!("alice's code is matched");
        };
        assert!(r.contains("回复 1 确认登录"), "{r}");
        // Not code-looking: the app's, even for the guesser.
        assert_eq!(
            records.message("oGuess", "你好").await,
            MessageOutcome::NotLogin
        );
    }

    #[tokio::test]
    async fn a_flood_of_wrong_codes_stops_the_guessers_not_the_others() {
        let (records, _, code) = pending().await;
        let wrong = other_than(&code);
        // 60 users, one wrong code each: the account's bound.
        for n in 0..WRONG_PER_ACCOUNT {
            assert_eq!(
                records.message(&format!("oFlood{n}"), wrong).await,
                MessageOutcome::NotLogin
            );
        }
        // Past it, a wrong code is answered, and a guesser's right code is not matched.
        assert_eq!(
            records.message("oNew", wrong).await,
            MessageOutcome::Reply(TOO_MANY.into())
        );
        assert_eq!(
            records.message("oFlood0", &code).await,
            MessageOutcome::Reply(TOO_MANY.into())
        );
        // A user who sent no wrong code still logs in.
        let MessageOutcome::Reply(r) = records.message("oAlice", &code).await else {
            panic!("alice's code is matched");
        };
        assert!(r.contains("回复 1 确认登录"), "{r}");
    }

    #[tokio::test]
    async fn only_the_bound_user_answers_and_the_code_is_single_use() {
        let (records, id, code) = pending().await;
        assert_eq!(
            records.message("oAlice", "1").await,
            MessageOutcome::NotLogin
        );
        let MessageOutcome::Reply(r) = records.message("oAlice", &format!("登录 {code}")).await
        else {
            panic!("matched");
        };
        assert!(r.contains("回复 1 确认登录"));
        assert!(matches!(
            records.message("oBob", &code).await,
            MessageOutcome::Reply(r) if r.contains("已被其他微信使用")
        ));
        assert_eq!(records.message("oBob", "1").await, MessageOutcome::NotLogin);
        let MessageOutcome::Reply(r) = records.message("oAlice", "1").await else {
            panic!("answered");
        };
        assert!(r.contains("已确认登录"), "{r}");
        let scene = records
            .load(&records.key(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let SceneStatus::Confirmed { user } = scene.status else {
            panic!("confirmed");
        };
        assert_eq!(
            (user.openid.as_str(), user.channel, user.unionid),
            ("oAlice", Channel::MessageCode, None)
        );
        // Answered once: a second `1` and the code again are not logins any more.
        assert_eq!(
            records.message("oAlice", "1").await,
            MessageOutcome::NotLogin
        );
        assert_eq!(
            records.message("oAlice", &code).await,
            MessageOutcome::NotLogin
        );
    }
}
