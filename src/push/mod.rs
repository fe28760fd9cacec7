//! The Official Account message push protocol: URL signatures, event XML and AES "safe mode".
//!
//! WeChat calls an Official Account's push URL with `GET` once to verify it (answer the
//! `echostr`), then `POST`s every event — among them the `subscribe` / `SCAN` events of the
//! follow-the-account scan login — as XML, signed with the account's push `Token` and, in
//! compatible or safe mode, AES-256-CBC encrypted with its `EncodingAESKey`. This module
//! implements that protocol (`wechat-protocol.md` §7, §15, §16): [`PushCrypto`] checks
//! signatures and decrypts; [`PushMessage`] parses XML or JSON ([`PushFormat`]);
//! [`PushQuery`] reads the query string; [`PushReply`] is a passive reply, written in the
//! push's format and sealed with [`PushCrypto::seal_reply`] in safe mode.
//!
//! The layer only reads pushes. To build one the way WeChat does (in tests, benches and the
//! examples below), use the mock WeChat's writers, `wechat_auth::mock::wire::event_xml` and
//! `safe_mode_xml` (feature `mock`), with [`PushCrypto::encrypt`] for the `Encrypt` value.
//!
//! ```
//! use wechat_auth::push::{PushCrypto, PushQuery};
//!
//! # fn main() -> Result<(), wechat_auth::push::PushError> {
//! let crypto = PushCrypto::new(
//!     "mocktoken",                                           // the push URL Token
//!     Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),   // EncodingAESKey (safe mode)
//!     "wx0000000000000001",                                  // the Official Account's appid
//! )?;
//!
//! // GET /push?signature=…&timestamp=…&nonce=…&echostr=…: answer the echostr as plain text.
//! let get = PushQuery::parse(
//!     "signature=009b5130800b140b20b903e9993552e67db83503&timestamp=1700000000\
//!      &nonce=123456789&echostr=4375120948345356249",
//! );
//! assert_eq!(crypto.verify_get(&get)?, "4375120948345356249");
//!
//! // POST /push?…&encrypt_type=aes&msg_signature=…: check both signatures, decrypt, parse.
//! let post = PushQuery::parse(
//!     "signature=009b5130800b140b20b903e9993552e67db83503&timestamp=1700000000\
//!      &nonce=123456789&openid=oMOCKopenid0000000000000001\
//!      &encrypt_type=aes&msg_signature=352bd5aed7ce5cfe349e956946afa43131b7fd3a",
//! );
//! let body = concat!(
//!     "<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName><Encrypt><![CDATA[",
//!     "Q3stYC6hdFzMh9T8HCvyDI8ESvIh6GlJlvJvJI+u3zNXPc8LEaBeg0XCY14ZyhmFCtoDmoVbtM7pxJSNJZib4121",
//!     "LuvUFR+0N9vlDcLlhmathBaMia00ZJrJJeE/GMo4iwvH9d6EWtM0eKEl7q2xqhLTDW/59UDOSW9z4NW3QHc3QIU/",
//!     "8oUSikiSzLW6yw85+HwbikXc6gJthk/s/M+5fIwMlxHgq2dxK9SqocKpl2nNemp4ROjav719YqMn5+7UB4zpmFHo",
//!     "oGbvfk6whBzr863dzRcf0shl+Ra65lm+eI0/mBpSDPNULPp5CWth/KF73kADeCMaRiX1pa7ftynMLcQXjE6gX6uB",
//!     "6R3AaCt82v7zEBFqTDBiKRQOM8JoV5CbOEkpIPRnAzuo5RpRXIm+uU3mUdD9qcfOIHHpotcgv2FgWQNzFK02sfV7",
//!     "ZjtbStNRW0VfdWqH333QPtkTSGC5Em0RdvGuDl9clOwp803CnENyj5EzjtP5dJ89tiF/BTyP",
//!     "]]></Encrypt></xml>",
//! );
//! let msg = crypto.open_post(&post, body)?;
//! assert_eq!(msg.event.as_deref(), Some("subscribe"));
//! assert_eq!(msg.scan_scene(), Some("login_abc123")); // the scene of the scanned QR code
//! assert_eq!(msg.ticket.as_deref(), Some("TICKETVALUE"));
//! // …then answer `success` (or an empty body) within 5 s, or WeChat sends it again.
//! # Ok(()) }
//! ```
//!
//! # What to rely on
//!
//! - The URL `signature` covers only the token, `timestamp` and `nonce`, never the body. In
//!   plaintext mode anyone who saw one signed request can replay its query with a body of
//!   their choosing; only safe (or compatible) mode, whose `msg_signature` covers the
//!   ciphertext, authenticates the event. [`PushCrypto::open_post`] therefore refuses
//!   plaintext posts once an `EncodingAESKey` is configured.
//! - The signatures say nothing about *when* a request was made. [`PushCrypto::verify_get`]
//!   and [`PushCrypto::open_post`] check signatures only; a receiver must also refuse a
//!   `timestamp` outside [`TIMESTAMP_WINDOW`] ([`check_timestamp`]) and remember every signed
//!   query it accepted for that long, so that a leaked query (a proxy's access log) cannot be
//!   used again. The layer's push endpoint does both, in the shared store.
//! - Answer within 5 s with `success` or an empty body; otherwise WeChat re-sends the same XML
//!   (at most 3 deliveries, the same XML each time). Deduplicate with
//!   [`PushMessage::dedupe_key`].
//! - Bodies larger than [`MAX_BODY_BYTES`] are refused without being parsed, and nothing in
//!   this module panics on hostile input.

use std::time::Duration;

mod crypto;
mod format;
mod message;
mod reply;
mod writers;

pub use crypto::{OpenedPush, PushCrypto};
pub use format::PushFormat;
pub use message::{PushMessage, PushQuery};
pub use reply::{Article, PushReply};
#[cfg(test)]
use writers::{event_xml, safe_mode_xml};

/// The largest push body (and `Encrypt` value) this module accepts: 64 KiB. WeChat's events
/// are a few hundred bytes; read request bodies with this limit too.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How far a push's `timestamp` may be from our clock, either way: 5 minutes. WeChat stamps
/// every request when it sends it (a re-delivery comes within 15 s), so anything older was
/// kept, and anything from the future was made up or comes from a badly wrong clock.
///
/// ```
/// assert_eq!(wechat_auth::push::TIMESTAMP_WINDOW.as_secs(), 300);
/// ```
pub const TIMESTAMP_WINDOW: Duration = Duration::from_secs(300);

/// The longest `timestamp` accepted: 20 digits hold every `u64`.
const MAX_TIMESTAMP_DIGITS: usize = 20;

/// Checks a push `timestamp`: decimal Unix seconds (ASCII digits only, no sign or spaces)
/// at most [`TIMESTAMP_WINDOW`] away from `now_unix`, in either direction. Returns the
/// seconds, or [`PushError::StaleTimestamp`].
///
/// Use it together with the signature check, and remember each accepted signed query for
/// as long as its timestamp stays acceptable (twice the window, to be safe) to refuse
/// replays.
///
/// ```
/// use wechat_auth::push::{check_timestamp, PushError};
///
/// let now = 1_700_000_000;
/// assert_eq!(check_timestamp("1700000000", now), Ok(1_700_000_000));
/// assert_eq!(check_timestamp("1699999700", now), Ok(1_699_999_700)); // 5 minutes old
/// assert_eq!(check_timestamp("1699999699", now), Err(PushError::StaleTimestamp));
/// assert_eq!(check_timestamp("1700000301", now), Err(PushError::StaleTimestamp));
/// assert_eq!(check_timestamp("0", now), Err(PushError::StaleTimestamp));
/// assert_eq!(check_timestamp("abc", now), Err(PushError::StaleTimestamp));
/// ```
pub fn check_timestamp(timestamp: &str, now_unix: u64) -> Result<u64, PushError> {
    if timestamp.is_empty()
        || timestamp.len() > MAX_TIMESTAMP_DIGITS
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(PushError::StaleTimestamp);
    }
    let secs: u64 = timestamp.parse().map_err(|_| PushError::StaleTimestamp)?;
    if secs.abs_diff(now_unix) > TIMESTAMP_WINDOW.as_secs() {
        return Err(PushError::StaleTimestamp);
    }
    Ok(secs)
}

/// Why a push could not be verified, decrypted, encrypted or parsed.
///
/// The messages are meant for logs. Do not tell the caller of the push URL which step
/// failed: answer every failure the same way (for example `400` with an empty body).
///
/// `Debug` prints the message, then the variant: what `main` returning the error shows.
///
/// ```
/// use wechat_auth::push::{PushCrypto, PushError};
///
/// let e = PushCrypto::new("token", Some("too short"), "wx1").unwrap_err();
/// assert_eq!(e, PushError::BadKey);
/// assert_eq!(
///     format!("{e:?}"),
///     "EncodingAESKey must be 43 characters of [A-Za-z0-9] (PushError::BadKey)"
/// );
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]`.
    #[error("EncodingAESKey must be 43 characters of [A-Za-z0-9]")]
    BadKey,
    /// Decryption or encryption was asked for, but no EncodingAESKey is configured.
    #[error("no EncodingAESKey configured: encrypted (safe mode) push needs one")]
    NoAesKey,
    /// A `signature` or `msg_signature` does not match.
    #[error("push signature does not match (wrong token, or not sent by WeChat)")]
    BadSignature,
    /// A required query parameter (or the `Encrypt` element) is missing.
    #[error("push request lacks {0}")]
    Missing(&'static str),
    /// A plaintext post arrived although an EncodingAESKey is configured; its body would be
    /// unauthenticated.
    #[error("plaintext push refused: an EncodingAESKey is configured, expected encrypt_type=aes")]
    NotEncrypted,
    /// `Encrypt` is not standard base64.
    #[error("Encrypt is not valid base64")]
    BadBase64,
    /// The decrypted padding is not PKCS#7 with a pad length of 1..=32.
    #[error("bad padding after decryption (wrong EncodingAESKey, or a tampered message)")]
    BadPadding,
    /// The ciphertext or the embedded message length does not fit the layout.
    #[error("bad length in encrypted message (wrong EncodingAESKey, or a tampered message)")]
    BadLength,
    /// The decrypted message is not UTF-8.
    #[error("decrypted message is not UTF-8")]
    BadUtf8,
    /// The appid at the end of the decrypted message is not ours.
    #[error("decrypted message is for another appid")]
    AppIdMismatch,
    /// The body is not a push XML message. The text never quotes the body.
    #[error("push XML: {0}")]
    Xml(String),
    /// The body is not a push JSON object. The text never quotes the body.
    #[error("push JSON: {0}")]
    Json(String),
    /// The body or `Encrypt` value is larger than [`MAX_BODY_BYTES`].
    #[error("push body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The `timestamp` is not decimal Unix seconds within [`TIMESTAMP_WINDOW`] of our clock
    /// (see [`check_timestamp`]): a replayed request, or a clock far out of sync.
    #[error(
        "push timestamp is not Unix seconds within 5 minutes of our clock (a replay, or a clock out of sync)"
    )]
    StaleTimestamp,
    /// This signed query was accepted before with another body (or for another request):
    /// someone re-used a signature they saw.
    #[error("push signature was already used for another request (a replay)")]
    Replayed,
}

impl std::fmt::Debug for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let variant = match self {
            Self::BadKey => "BadKey",
            Self::NoAesKey => "NoAesKey",
            Self::BadSignature => "BadSignature",
            Self::Missing(_) => "Missing",
            Self::NotEncrypted => "NotEncrypted",
            Self::BadBase64 => "BadBase64",
            Self::BadPadding => "BadPadding",
            Self::BadLength => "BadLength",
            Self::BadUtf8 => "BadUtf8",
            Self::AppIdMismatch => "AppIdMismatch",
            Self::Xml(_) => "Xml",
            Self::Json(_) => "Json",
            Self::TooLarge => "TooLarge",
            Self::StaleTimestamp => "StaleTimestamp",
            Self::Replayed => "Replayed",
        };
        write!(f, "{self} (PushError::{variant})")
    }
}

#[cfg(test)]
mod tests;
