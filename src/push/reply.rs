//! [`PushReply`]: a passive reply (被动回复, protocol addendum §16) — the HTTP answer to a
//! push that WeChat shows the user as the Official Account's message — and its writers in
//! XML and JSON, plain or in the encrypted envelope of safe mode.

use serde::Serialize;
use serde_json::json;

use super::{PushCrypto, PushError, PushFormat, writers::cdata};

/// One item of a news (图文) reply.
///
/// ```
/// let a = wechat_auth::push::Article::new("Welcome", "https://example.com/")
///     .with_description("Read this first");
/// assert_eq!(a.title, "Welcome");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Article {
    /// The title.
    pub title: String,
    /// The summary under the title.
    pub description: String,
    /// A JPG or PNG picture (360×200 for the first item, 200×200 for the others).
    pub pic_url: String,
    /// Where a tap goes.
    pub url: String,
}

impl Article {
    /// An article with a title and a link.
    pub fn new(title: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            url: url.into(),
            ..Self::default()
        }
    }

    /// Sets the summary.
    ///
    /// ```
    /// let a = wechat_auth::push::Article::new("t", "https://example.com/").with_description("d");
    /// assert_eq!(a.description, "d");
    /// ```
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the picture.
    ///
    /// ```
    /// let a = wechat_auth::push::Article::new("t", "u").with_pic_url("https://example.com/p.png");
    /// assert_eq!(a.pic_url, "https://example.com/p.png");
    /// ```
    pub fn with_pic_url(mut self, pic_url: impl Into<String>) -> Self {
        self.pic_url = pic_url.into();
        self
    }
}

/// What the Official Account answers a push with: the user sees it as a message from the
/// account. Return one from an [`on_push`](crate::WechatConfigBuilder::with_on_push) hook.
///
/// ```
/// use wechat_auth::push::{PushFormat, PushReply};
///
/// let reply = PushReply::text("你好");
/// let xml = reply.document(PushFormat::Xml, "oUSER", "gh_1", 1700000000);
/// assert_eq!(xml, "<xml><ToUserName><![CDATA[oUSER]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName>\
///                  <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
///                  <Content><![CDATA[你好]]></Content></xml>");
/// let json = reply.document(PushFormat::Json, "oUSER", "gh_1", 1700000000);
/// assert_eq!(json, r#"{"ToUserName":"oUSER","FromUserName":"gh_1","CreateTime":1700000000,"MsgType":"text","Content":"你好"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushReply {
    /// A text message; line breaks show as line breaks, `<a href="…">…</a>` as links.
    Text(String),
    /// News items (WeChat shows one after a user's text message, up to 8 otherwise).
    News(Vec<Article>),
}

impl PushReply {
    /// A text reply.
    ///
    /// ```
    /// assert_eq!(wechat_auth::push::PushReply::text("hi"), wechat_auth::push::PushReply::Text("hi".into()));
    /// ```
    pub fn text(content: impl Into<String>) -> Self {
        Self::Text(content.into())
    }

    /// A news reply.
    ///
    /// ```
    /// use wechat_auth::push::{Article, PushFormat, PushReply};
    ///
    /// let r = PushReply::news(vec![Article::new("t", "https://example.com/")]);
    /// let json = r.document(PushFormat::Json, "oU", "gh_1", 1);
    /// assert!(json.contains(r#""ArticleCount":1,"Articles":[{"Title":"t""#), "{json}");
    /// ```
    pub fn news(articles: Vec<Article>) -> Self {
        Self::News(articles)
    }

    /// The reply document in `format`: `to` is the user's openid (the push's
    /// `FromUserName`), `from` the account's original id (the push's `ToUserName`).
    pub fn document(&self, format: PushFormat, to: &str, from: &str, create_time: u64) -> String {
        match format {
            PushFormat::Xml => self.xml(to, from, create_time),
            PushFormat::Json => self.json(to, from, create_time),
        }
    }

    fn xml(&self, to: &str, from: &str, create_time: u64) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<xml><ToUserName>");
        cdata(&mut out, to);
        out.push_str("</ToUserName><FromUserName>");
        cdata(&mut out, from);
        out.push_str("</FromUserName><CreateTime>");
        out.push_str(&create_time.to_string());
        out.push_str("</CreateTime><MsgType>");
        match self {
            Self::Text(content) => {
                cdata(&mut out, "text");
                out.push_str("</MsgType><Content>");
                cdata(&mut out, content);
                out.push_str("</Content>");
            }
            Self::News(articles) => {
                cdata(&mut out, "news");
                out.push_str("</MsgType><ArticleCount>");
                out.push_str(&articles.len().to_string());
                out.push_str("</ArticleCount><Articles>");
                for a in articles {
                    out.push_str("<item><Title>");
                    cdata(&mut out, &a.title);
                    out.push_str("</Title><Description>");
                    cdata(&mut out, &a.description);
                    out.push_str("</Description><PicUrl>");
                    cdata(&mut out, &a.pic_url);
                    out.push_str("</PicUrl><Url>");
                    cdata(&mut out, &a.url);
                    out.push_str("</Url></item>");
                }
                out.push_str("</Articles>");
            }
        }
        out.push_str("</xml>");
        out
    }

    fn json(&self, to: &str, from: &str, create_time: u64) -> String {
        // Structs, not a map: the keys keep WeChat's order (To, From, CreateTime, MsgType, …).
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Item<'a> {
            title: &'a str,
            description: &'a str,
            pic_url: &'a str,
            url: &'a str,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Doc<'a> {
            to_user_name: &'a str,
            from_user_name: &'a str,
            create_time: u64,
            msg_type: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            content: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            article_count: Option<usize>,
            #[serde(skip_serializing_if = "Option::is_none")]
            articles: Option<Vec<Item<'a>>>,
        }
        let mut doc = Doc {
            to_user_name: to,
            from_user_name: from,
            create_time,
            msg_type: "text",
            content: None,
            article_count: None,
            articles: None,
        };
        match self {
            Self::Text(content) => doc.content = Some(content),
            Self::News(articles) => {
                doc.msg_type = "news";
                doc.article_count = Some(articles.len());
                doc.articles = Some(
                    articles
                        .iter()
                        .map(|a| Item {
                            title: &a.title,
                            description: &a.description,
                            pic_url: &a.pic_url,
                            url: &a.url,
                        })
                        .collect(),
                );
            }
        }
        serde_json::to_string(&doc).unwrap_or_default()
    }
}

impl PushCrypto {
    /// The encrypted envelope of a passive reply (safe mode, §16.4): `document` encrypted
    /// with fresh random bytes, signed over `timestamp`, `nonce` and the ciphertext, in
    /// `format` — `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>` or
    /// `{"Encrypt","MsgSignature","TimeStamp","Nonce"}` (a number and a string, as in
    /// WeChat's example).
    ///
    /// ```
    /// use wechat_auth::push::{PushCrypto, PushFormat, PushMessage};
    ///
    /// # fn main() -> Result<(), wechat_auth::push::PushError> {
    /// let c = PushCrypto::new("AAAAA", Some(&"A".repeat(43)), "wxba5fad812f8e6fb9")?;
    /// let sealed = c.seal_reply(PushFormat::Json, r#"{"demo_resp":"good luck"}"#, "1713424427", "415670741")?;
    /// let envelope = PushMessage::parse_json(&sealed)?;
    /// let v: serde_json::Value = serde_json::from_str(&sealed).unwrap();
    /// assert_eq!(v["TimeStamp"], 1713424427);
    /// assert_eq!(v["Nonce"], "415670741");
    /// let encrypt = envelope.encrypt.unwrap();
    /// assert!(c.verify_msg_signature(v["MsgSignature"].as_str().unwrap(), "1713424427", "415670741", &encrypt));
    /// assert_eq!(c.decrypt(&encrypt)?, r#"{"demo_resp":"good luck"}"#);
    /// # Ok(()) }
    /// ```
    pub fn seal_reply(
        &self,
        format: PushFormat,
        document: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, PushError> {
        let encrypt = self.encrypt(document, rand::random())?;
        let signature = self.msg_signature(timestamp, nonce, &encrypt);
        Ok(match format {
            PushFormat::Xml => {
                let mut out = String::with_capacity(encrypt.len() + 160);
                out.push_str("<xml><Encrypt>");
                cdata(&mut out, &encrypt);
                out.push_str("</Encrypt><MsgSignature>");
                cdata(&mut out, &signature);
                out.push_str("</MsgSignature><TimeStamp>");
                out.push_str(timestamp);
                out.push_str("</TimeStamp><Nonce>");
                cdata(&mut out, nonce);
                out.push_str("</Nonce></xml>");
                out
            }
            PushFormat::Json => {
                let ts = timestamp
                    .parse::<u64>()
                    .map_or_else(|_| json!(timestamp), |n| json!(n));
                // In the order of WeChat's example (a map would sort the keys).
                format!(
                    "{{\"Encrypt\":{},\"MsgSignature\":{},\"TimeStamp\":{ts},\"Nonce\":{}}}",
                    json!(encrypt),
                    json!(signature),
                    json!(nonce)
                )
            }
        })
    }
}
