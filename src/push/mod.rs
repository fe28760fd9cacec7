//! The Official Account message push protocol: URL signatures, event XML and AES "safe mode".
//!
//! WeChat calls an Official Account's push URL with `GET` once to verify it (answer the
//! `echostr`), then `POST`s every event — among them the `subscribe` / `SCAN` events of the
//! follow-the-account scan login — as XML, signed with the account's push `Token` and, in
//! compatible or safe mode, AES-256-CBC encrypted with its `EncodingAESKey`. This module
//! implements that protocol (`wechat-protocol.md` §7): [`PushCrypto`] signs, verifies, decrypts
//! and encrypts; [`PushMessage`] parses the XML; [`PushQuery`] reads the query string;
//! [`event_xml`] writes an event the way WeChat does.
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

use std::fmt;
use std::time::Duration;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::Deserialize;
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq as _;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

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

/// Length of an `EncodingAESKey`: 43 characters of `[A-Za-z0-9]`.
const ENCODING_AES_KEY_LEN: usize = 43;
/// The plaintext is padded (PKCS#7) to a multiple of 32 bytes, not the AES block size.
const PAD_BLOCK: usize = 32;
/// `random(16) ‖ msg_len(4)` before the message.
const HEADER_LEN: usize = 20;

/// Base64 that accepts non-zero trailing bits: real EncodingAESKeys have them in their last
/// character, and the strict engine refuses them (protocol §7.4, "Rust gotcha").
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a push could not be verified, decrypted, encrypted or parsed.
///
/// The messages are meant for logs. Do not tell the caller of the push URL which step
/// failed: answer every failure the same way (for example `400` with an empty body).
///
/// ```
/// use wechat_auth::push::{PushCrypto, PushError};
///
/// assert_eq!(PushCrypto::new("token", Some("too short"), "wx1").unwrap_err(), PushError::BadKey);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// The body is not a push XML message.
    #[error("push XML: {0}")]
    Xml(String),
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

/// Which EncodingAESKey decrypted a message (see [`PushCrypto::with_previous_key`]).
///
/// ```
/// use wechat_auth::push::KeySlot;
///
/// assert_ne!(KeySlot::Current, KeySlot::Previous);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySlot {
    /// The EncodingAESKey given to [`PushCrypto::new`].
    Current,
    /// The one given to [`PushCrypto::with_previous_key`].
    Previous,
}

/// Signs, verifies, decrypts and encrypts pushes of one Official Account.
///
/// Holds the push `Token`, the AES key derived from the `EncodingAESKey` (if any, plus the
/// previous one during a rotation) and the appid. `Debug` shows neither token nor keys.
///
/// ```
/// use wechat_auth::push::PushCrypto;
///
/// # fn main() -> Result<(), wechat_auth::push::PushError> {
/// let crypto = PushCrypto::new("AAAAA", None, "wx2000000000000002")?;
/// assert!(crypto.verify_signature(
///     "f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036504", "1514711492"));
/// assert!(!format!("{crypto:?}").contains("AAAAA"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PushCrypto {
    token: String,
    appid: String,
    key: Option<[u8; 32]>,
    previous_key: Option<[u8; 32]>,
}

impl fmt::Debug for PushCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushCrypto")
            .field("token", &"***")
            .field("appid", &self.appid)
            .field("key", &self.key.map(|_| "***"))
            .field("previous_key", &self.previous_key.map(|_| "***"))
            .finish()
    }
}

/// Decodes an EncodingAESKey into the 32-byte AES key (`Base64Decode(key + "=")`, lenient
/// about trailing bits).
fn aes_key(encoding_aes_key: &str) -> Result<[u8; 32], PushError> {
    if encoding_aes_key.len() != ENCODING_AES_KEY_LEN
        || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(PushError::BadKey);
    }
    let bytes = LENIENT
        .decode(format!("{encoding_aes_key}="))
        .map_err(|_| PushError::BadKey)?;
    bytes.try_into().map_err(|_| PushError::BadKey)
}

/// Lowercase hex SHA-1 of the sorted, concatenated parts (WeChat's signature scheme).
fn sha1_sorted(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut h = Sha1::new();
    for p in parts.iter() {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Compares a received hex signature with the expected one without an early exit on the
/// first differing byte. Upper-case hex is accepted.
fn same_signature(received: &str, expected: &str) -> bool {
    let received = received.trim().to_ascii_lowercase();
    received.len() == expected.len() && bool::from(received.as_bytes().ct_eq(expected.as_bytes()))
}

impl PushCrypto {
    /// A crypto for the push URL `token`, the optional `encoding_aes_key` (43 characters of
    /// `[A-Za-z0-9]`; `None` for plaintext mode) and the Official Account's `appid`.
    ///
    /// The key is decoded leniently, as WeChat's own SDKs do: real keys usually have non-zero
    /// trailing bits that a strict base64 decoder refuses.
    ///
    /// ```
    /// use wechat_auth::push::{PushCrypto, PushError};
    ///
    /// let c = PushCrypto::new("tok", Some("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"), "wx1").unwrap();
    /// assert!(c.has_aes());
    /// assert_eq!(PushCrypto::new("tok", Some("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a+"), "wx1").unwrap_err(),
    ///            PushError::BadKey);
    /// ```
    pub fn new(
        token: &str,
        encoding_aes_key: Option<&str>,
        appid: &str,
    ) -> Result<Self, PushError> {
        Ok(PushCrypto {
            token: token.to_owned(),
            appid: appid.to_owned(),
            key: encoding_aes_key.map(aes_key).transpose()?,
            previous_key: None,
        })
    }

    /// Adds the EncodingAESKey that was current before a rotation: [`decrypt`](Self::decrypt)
    /// tries the current key first, then this one (WeChat's FAQ on changing the key).
    ///
    /// ```
    /// use wechat_auth::push::PushCrypto;
    ///
    /// # fn main() -> Result<(), wechat_auth::push::PushError> {
    /// let old = PushCrypto::new("tok", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"), "wx1")?;
    /// let sealed = old.encrypt("<xml/>", [7; 16])?;
    /// let new = PushCrypto::new("tok", Some("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"), "wx1")?
    ///     .with_previous_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?;
    /// assert_eq!(new.decrypt(&sealed)?, "<xml/>");
    /// # Ok(()) }
    /// ```
    pub fn with_previous_key(mut self, old_key: &str) -> Result<Self, PushError> {
        self.previous_key = Some(aes_key(old_key)?);
        Ok(self)
    }

    /// Whether an EncodingAESKey is configured (compatible / safe mode possible).
    ///
    /// ```
    /// assert!(!wechat_auth::push::PushCrypto::new("tok", None, "wx1").unwrap().has_aes());
    /// ```
    pub fn has_aes(&self) -> bool {
        self.key.is_some()
    }

    /// The appid this crypto checks decrypted messages against.
    ///
    /// ```
    /// assert_eq!(wechat_auth::push::PushCrypto::new("tok", None, "wx1").unwrap().appid(), "wx1");
    /// ```
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The URL `signature`: lowercase hex SHA-1 of the sorted `[token, timestamp, nonce]`.
    ///
    /// ```
    /// let c = wechat_auth::push::PushCrypto::new("AAAAA", None, "wx1").unwrap();
    /// assert_eq!(c.signature("1714037059", "486452656"), "899cf89e464efb63f54ddac96b0a0a235f53aa78");
    /// ```
    pub fn signature(&self, timestamp: &str, nonce: &str) -> String {
        sha1_sorted(&mut [&self.token, timestamp, nonce])
    }

    /// The `msg_signature` of an encrypted message: lowercase hex SHA-1 of the sorted
    /// `[token, timestamp, nonce, encrypt]`.
    ///
    /// ```
    /// let c = wechat_auth::push::PushCrypto::new("tok", None, "wx1").unwrap();
    /// assert_eq!(c.msg_signature("1", "2", "ZZ").len(), 40);
    /// ```
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sha1_sorted(&mut [&self.token, timestamp, nonce, encrypt])
    }

    /// Checks a URL `signature` (constant-time comparison).
    ///
    /// ```
    /// let c = wechat_auth::push::PushCrypto::new("AAAAA", None, "wx1").unwrap();
    /// assert!(c.verify_signature("f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036504", "1514711492"));
    /// assert!(!c.verify_signature("f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036505", "1514711492"));
    /// ```
    pub fn verify_signature(&self, signature: &str, timestamp: &str, nonce: &str) -> bool {
        same_signature(signature, &self.signature(timestamp, nonce))
    }

    /// Checks a `msg_signature` over an `Encrypt` value (constant-time comparison).
    ///
    /// ```
    /// let c = wechat_auth::push::PushCrypto::new("tok", None, "wx1").unwrap();
    /// let sig = c.msg_signature("1700000000", "42", "QUJD");
    /// assert!(c.verify_msg_signature(&sig, "1700000000", "42", "QUJD"));
    /// assert!(!c.verify_msg_signature(&sig, "1700000000", "42", "QUJE"));
    /// ```
    pub fn verify_msg_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> bool {
        same_signature(
            msg_signature,
            &self.msg_signature(timestamp, nonce, encrypt),
        )
    }

    /// Decrypts an `Encrypt` value: AES-256-CBC (IV = the key's first 16 bytes), PKCS#7 to
    /// 32 bytes, layout `random(16) ‖ msg_len(4, big-endian) ‖ msg ‖ appid`; the appid must be
    /// ours. Tries the previous key after the current one. Errors, never panics, on any input.
    ///
    /// ```
    /// use wechat_auth::push::{PushCrypto, PushError};
    ///
    /// # fn main() -> Result<(), PushError> {
    /// let key = Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    /// let ours = PushCrypto::new("tok", key, "wx1")?;
    /// let sealed = ours.encrypt("<xml><MsgType>event</MsgType></xml>", [0; 16])?;
    /// assert_eq!(ours.decrypt(&sealed)?, "<xml><MsgType>event</MsgType></xml>");
    /// let other = PushCrypto::new("tok", key, "wx2")?;
    /// assert_eq!(other.decrypt(&sealed), Err(PushError::AppIdMismatch));
    /// assert_eq!(ours.decrypt("not base64!"), Err(PushError::BadBase64));
    /// # Ok(()) }
    /// ```
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, PushError> {
        self.decrypt_keyed(encrypt_b64).map(|(msg, _)| msg)
    }

    /// Like [`decrypt`](Self::decrypt), and also says which key worked, so that a reply can
    /// be encrypted with that key ([`encrypt_reply_with`](Self::encrypt_reply_with)).
    ///
    /// ```
    /// use wechat_auth::push::{KeySlot, PushCrypto};
    ///
    /// # fn main() -> Result<(), wechat_auth::push::PushError> {
    /// let c = PushCrypto::new("tok", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"), "wx1")?;
    /// let sealed = c.encrypt("hi", [1; 16])?;
    /// assert_eq!(c.decrypt_keyed(&sealed)?, ("hi".to_owned(), KeySlot::Current));
    /// # Ok(()) }
    /// ```
    pub fn decrypt_keyed(&self, encrypt_b64: &str) -> Result<(String, KeySlot), PushError> {
        let key = self.key.as_ref().ok_or(PushError::NoAesKey)?;
        if encrypt_b64.len() > MAX_BODY_BYTES {
            return Err(PushError::TooLarge);
        }
        let sealed = STANDARD
            .decode(encrypt_b64.trim())
            .map_err(|_| PushError::BadBase64)?;
        match (open(key, &sealed, &self.appid), &self.previous_key) {
            (Ok(msg), _) => Ok((msg, KeySlot::Current)),
            (Err(first), Some(old)) => open(old, &sealed, &self.appid)
                .map(|msg| (msg, KeySlot::Previous))
                .map_err(|_| first),
            (Err(first), None) => Err(first),
        }
    }

    /// Encrypts `msg` with the current key and the given 16 random bytes, and returns the
    /// base64 `Encrypt` value. Use fresh random bytes for every message
    /// ([`encrypt_reply`](Self::encrypt_reply) does); fixed ones are for test vectors.
    ///
    /// ```
    /// use wechat_auth::push::PushCrypto;
    ///
    /// # fn main() -> Result<(), wechat_auth::push::PushError> {
    /// let c = PushCrypto::new("tok", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"), "wx1")?;
    /// let a = c.encrypt("same", *b"0123456789abcdef")?;
    /// assert_eq!(a, c.encrypt("same", *b"0123456789abcdef")?); // deterministic for one random
    /// assert_ne!(a, c.encrypt("same", *b"fedcba9876543210")?);
    /// # Ok(()) }
    /// ```
    pub fn encrypt(&self, msg: &str, random: [u8; 16]) -> Result<String, PushError> {
        self.encrypt_with(KeySlot::Current, msg, random)
    }

    fn encrypt_with(
        &self,
        slot: KeySlot,
        msg: &str,
        random: [u8; 16],
    ) -> Result<String, PushError> {
        let key = match slot {
            KeySlot::Current => self.key.as_ref(),
            KeySlot::Previous => self.previous_key.as_ref(),
        }
        .ok_or(PushError::NoAesKey)?;
        let len = u32::try_from(msg.len()).map_err(|_| PushError::TooLarge)?;
        let mut plain = Vec::with_capacity(HEADER_LEN + msg.len() + self.appid.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK; // 1..=32, a full block when aligned
        plain.resize(plain.len() + pad, pad as u8);
        let cipher = Aes256CbcEnc::new_from_slices(key, &key[..16])
            .map_err(|_| PushError::BadKey)?
            .encrypt_padded_vec_mut::<NoPadding>(&plain);
        let out = STANDARD.encode(cipher);
        if out.len() > MAX_BODY_BYTES {
            return Err(PushError::TooLarge);
        }
        Ok(out)
    }

    /// The encrypted passive reply WeChat expects in safe mode:
    /// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`, with fresh random bytes.
    /// (For a scan login, answering plain `success` is enough; this is for real replies.)
    ///
    /// ```
    /// use wechat_auth::push::{PushCrypto, PushMessage};
    ///
    /// # fn main() -> Result<(), wechat_auth::push::PushError> {
    /// let c = PushCrypto::new("tok", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"), "wx1")?;
    /// let envelope = c.encrypt_reply("<xml><Content>hi</Content></xml>", "1700000001", "987654321")?;
    /// assert!(envelope.starts_with("<xml><Encrypt><![CDATA["));
    /// let encrypt = PushMessage::parse(&envelope)?.encrypt.unwrap();
    /// assert_eq!(c.decrypt(&encrypt)?, "<xml><Content>hi</Content></xml>");
    /// # Ok(()) }
    /// ```
    pub fn encrypt_reply(
        &self,
        reply_xml: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, PushError> {
        self.encrypt_reply_with(KeySlot::Current, reply_xml, timestamp, nonce)
    }

    /// Like [`encrypt_reply`](Self::encrypt_reply), with the key that decrypted the request
    /// (WeChat's rule during a key rotation: answer with whichever key worked).
    ///
    /// ```
    /// use wechat_auth::push::{KeySlot, PushCrypto};
    ///
    /// # fn main() -> Result<(), wechat_auth::push::PushError> {
    /// let c = PushCrypto::new("tok", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"), "wx1")?;
    /// assert!(c.encrypt_reply_with(KeySlot::Previous, "<xml/>", "1", "2").is_err()); // no previous key
    /// # Ok(()) }
    /// ```
    pub fn encrypt_reply_with(
        &self,
        slot: KeySlot,
        reply_xml: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, PushError> {
        let encrypt = self.encrypt_with(slot, reply_xml, rand::random())?;
        Ok(reply_envelope(
            &encrypt,
            &self.msg_signature(timestamp, nonce, &encrypt),
            timestamp,
            nonce,
        ))
    }

    /// Verifies the `GET` WeChat sends to check a push URL and returns the `echostr` to
    /// answer (as a plain-text body).
    ///
    /// This checks the signature only, not freshness: also refuse a stale `timestamp`
    /// ([`check_timestamp`]) and a query seen before (see the module docs).
    ///
    /// ```
    /// use wechat_auth::push::{PushCrypto, PushError, PushQuery};
    ///
    /// let c = PushCrypto::new("AAAAA", None, "wx1").unwrap();
    /// let q = PushQuery::parse("signature=f464b24fc39322e44b38aa78f5edd27bd1441696\
    ///                           &echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492");
    /// assert_eq!(c.verify_get(&q), Ok("4375120948345356249"));
    /// let forged = PushQuery::parse("signature=00&echostr=1&timestamp=1&nonce=1");
    /// assert_eq!(c.verify_get(&forged), Err(PushError::BadSignature));
    /// ```
    pub fn verify_get<'q>(&self, query: &'q PushQuery) -> Result<&'q str, PushError> {
        self.check_url_signature(query)?;
        query
            .echostr
            .as_deref()
            .ok_or(PushError::Missing("echostr"))
    }

    /// Verifies and opens a `POST`ed push: checks the URL `signature`; with
    /// `encrypt_type=aes`, also the `msg_signature` over the body's `Encrypt`, then decrypts it
    /// and parses the inner message. Returns the message WeChat sent.
    ///
    /// Once an EncodingAESKey is configured, a post without `encrypt_type=aes` is refused
    /// ([`PushError::NotEncrypted`]): a plaintext body is not covered by any signature.
    ///
    /// This checks signatures only, not freshness: also refuse a stale `timestamp`
    /// ([`check_timestamp`]) and a signed query seen before with another body (see the
    /// module docs) — in plaintext mode that memory is all that stops a forged body.
    ///
    /// ```
    /// use wechat_auth::push::{event_xml, PushCrypto, PushQuery};
    ///
    /// # fn main() -> Result<(), wechat_auth::push::PushError> {
    /// let c = PushCrypto::new("mocktoken", None, "wx1")?;
    /// let body = event_xml("gh_000000000001", "oUSER", 1700000000, "SCAN", "login_1", "T");
    /// let q = PushQuery::parse(&format!(
    ///     "signature={}&timestamp=1700000000&nonce=5&openid=oUSER",
    ///     c.signature("1700000000", "5"),
    /// ));
    /// assert_eq!(c.open_post(&q, &body)?.scan_scene(), Some("login_1"));
    /// # Ok(()) }
    /// ```
    pub fn open_post(&self, query: &PushQuery, body: &str) -> Result<PushMessage, PushError> {
        let (timestamp, nonce) = self.check_url_signature(query)?;
        let outer = PushMessage::parse(body)?;
        if !query.is_encrypted() {
            if self.has_aes() {
                return Err(PushError::NotEncrypted);
            }
            return Ok(outer);
        }
        let encrypt = outer
            .encrypt
            .as_deref()
            .ok_or(PushError::Missing("Encrypt"))?;
        let msg_signature = query
            .msg_signature
            .as_deref()
            .ok_or(PushError::Missing("msg_signature"))?;
        if !self.verify_msg_signature(msg_signature, timestamp, nonce, encrypt) {
            return Err(PushError::BadSignature);
        }
        PushMessage::parse(&self.decrypt(encrypt)?)
    }

    /// Checks the URL `signature` over token, timestamp and nonce; returns `(timestamp,
    /// nonce)`. Freshness is the caller's: see [`check_timestamp`].
    pub(crate) fn check_url_signature<'q>(
        &self,
        query: &'q PushQuery,
    ) -> Result<(&'q str, &'q str), PushError> {
        let signature = query
            .signature
            .as_deref()
            .ok_or(PushError::Missing("signature"))?;
        let timestamp = query
            .timestamp
            .as_deref()
            .ok_or(PushError::Missing("timestamp"))?;
        let nonce = query.nonce.as_deref().ok_or(PushError::Missing("nonce"))?;
        if self.verify_signature(signature, timestamp, nonce) {
            Ok((timestamp, nonce))
        } else {
            Err(PushError::BadSignature)
        }
    }
}

/// Decrypts `sealed` with `key` and checks the layout and the appid.
fn open(key: &[u8; 32], sealed: &[u8], appid: &str) -> Result<String, PushError> {
    if sealed.is_empty() || !sealed.len().is_multiple_of(16) {
        return Err(PushError::BadLength);
    }
    let plain = Aes256CbcDec::new_from_slices(key, &key[..16])
        .map_err(|_| PushError::BadKey)?
        .decrypt_padded_vec_mut::<NoPadding>(sealed)
        .map_err(|_| PushError::BadLength)?;
    let pad = usize::from(*plain.last().ok_or(PushError::BadLength)?);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
        return Err(PushError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(PushError::BadPadding);
    }
    let rest = body.get(16..).ok_or(PushError::BadLength)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or(PushError::BadLength)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| PushError::BadLength)?;
    if len > rest.len() {
        return Err(PushError::BadLength);
    }
    let (msg, tail) = rest.split_at(len);
    if tail != appid.as_bytes() {
        return Err(PushError::AppIdMismatch);
    }
    String::from_utf8(msg.to_vec()).map_err(|_| PushError::BadUtf8)
}

/// Writes `value` as CDATA, splitting any `]]>` inside it so the XML stays well-formed.
fn cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

fn reply_envelope(encrypt: &str, msg_signature: &str, timestamp: &str, nonce: &str) -> String {
    let mut out = String::with_capacity(encrypt.len() + 160);
    out.push_str("<xml><Encrypt>");
    cdata(&mut out, encrypt);
    out.push_str("</Encrypt><MsgSignature>");
    cdata(&mut out, msg_signature);
    out.push_str("</MsgSignature><TimeStamp>");
    out.push_str(timestamp);
    out.push_str("</TimeStamp><Nonce>");
    cdata(&mut out, nonce);
    out.push_str("</Nonce></xml>");
    out
}

/// An event as WeChat pushes it, on one line with CDATA, in the field order of the protocol
/// examples: `ToUserName`, `FromUserName`, `CreateTime`, `MsgType` (`event`), `Event`,
/// `EventKey`, `Ticket`. The mock builds its `subscribe` / `SCAN` events with it.
///
/// ```
/// use wechat_auth::push::{event_xml, PushMessage};
///
/// let xml = event_xml("gh_0123456789ab", "oUSER", 1700000000, "subscribe", "qrscene_123123", "TICKET");
/// assert!(xml.starts_with("<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"));
/// assert_eq!(PushMessage::parse(&xml).unwrap().scan_scene(), Some("123123"));
/// ```
pub fn event_xml(
    to_user_name: &str,
    from_openid: &str,
    create_time: u64,
    event: &str,
    event_key: &str,
    ticket: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<xml><ToUserName>");
    cdata(&mut out, to_user_name);
    out.push_str("</ToUserName><FromUserName>");
    cdata(&mut out, from_openid);
    out.push_str("</FromUserName><CreateTime>");
    out.push_str(&create_time.to_string());
    out.push_str("</CreateTime><MsgType>");
    cdata(&mut out, "event");
    out.push_str("</MsgType><Event>");
    cdata(&mut out, event);
    out.push_str("</Event><EventKey>");
    cdata(&mut out, event_key);
    out.push_str("</EventKey><Ticket>");
    cdata(&mut out, ticket);
    out.push_str("</Ticket></xml>");
    out
}

/// The body of a safe-mode push: `<xml><ToUserName>…</ToUserName><Encrypt>…</Encrypt></xml>`.
///
/// ```
/// use wechat_auth::push::{safe_mode_xml, PushMessage};
///
/// let body = safe_mode_xml("gh_000000000001", "QUJD");
/// let msg = PushMessage::parse(&body).unwrap();
/// assert_eq!(msg.encrypt.as_deref(), Some("QUJD"));
/// ```
pub fn safe_mode_xml(to_user_name: &str, encrypt: &str) -> String {
    let mut out = String::with_capacity(encrypt.len() + 96);
    out.push_str("<xml><ToUserName>");
    cdata(&mut out, to_user_name);
    out.push_str("</ToUserName><Encrypt>");
    cdata(&mut out, encrypt);
    out.push_str("</Encrypt></xml>");
    out
}

/// The query string of a push request (`GET` verification or `POST` event).
///
/// ```
/// use wechat_auth::push::PushQuery;
///
/// let q = PushQuery::parse("signature=ab&timestamp=1&nonce=2&openid=oX&encrypt_type=aes&msg_signature=cd");
/// assert!(q.is_encrypted());
/// assert_eq!(q.openid.as_deref(), Some("oX"));
/// assert!(!PushQuery::parse("signature=ab&encrypt_type=raw").is_encrypted());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushQuery {
    /// SHA-1 over token, `timestamp` and `nonce` (every request).
    pub signature: Option<String>,
    /// Unix seconds, as WeChat wrote them.
    pub timestamp: Option<String>,
    /// A random number.
    pub nonce: Option<String>,
    /// `GET` verification only: the string to echo back.
    pub echostr: Option<String>,
    /// `POST`: the sender's openid.
    pub openid: Option<String>,
    /// `aes` in compatible / safe mode; absent or `raw` in plaintext mode.
    pub encrypt_type: Option<String>,
    /// SHA-1 over token, `timestamp`, `nonce` and the body's `Encrypt` (with `encrypt_type=aes`).
    pub msg_signature: Option<String>,
}

impl PushQuery {
    /// Reads the parameters from a raw (still percent-encoded) query string; unknown
    /// parameters are ignored, the first of repeated ones wins.
    ///
    /// ```
    /// let q = wechat_auth::push::PushQuery::parse("nonce=7&timestamp=1700000000&x=y&nonce=8");
    /// assert_eq!(q.nonce.as_deref(), Some("7"));
    /// ```
    pub fn parse(query: &str) -> Self {
        let mut q = PushQuery::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "signature" => &mut q.signature,
                "timestamp" => &mut q.timestamp,
                "nonce" => &mut q.nonce,
                "echostr" => &mut q.echostr,
                "openid" => &mut q.openid,
                "encrypt_type" => &mut q.encrypt_type,
                "msg_signature" => &mut q.msg_signature,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v.into_owned());
            }
        }
        q
    }

    /// Whether the request says it is encrypted (`encrypt_type=aes`).
    ///
    /// ```
    /// assert!(wechat_auth::push::PushQuery::parse("encrypt_type=aes").is_encrypted());
    /// ```
    pub fn is_encrypted(&self) -> bool {
        self.encrypt_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"))
    }
}

/// A pushed message or event, as parsed from WeChat's XML.
///
/// Text in CDATA and plain text are both read; unknown elements are ignored; empty elements
/// count as absent. A safe-mode body has only `to_user_name` and `encrypt`.
///
/// ```
/// use wechat_auth::push::PushMessage;
///
/// let msg = PushMessage::parse(
///     "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>\
///      <FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>1700000000</CreateTime>\
///      <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>\
///      <EventKey><![CDATA[123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>",
/// ).unwrap();
/// assert_eq!(msg.from_user_name, "oUSER");
/// assert_eq!(msg.create_time, 1700000000);
/// assert_eq!(msg.scan_scene(), Some("123123"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushMessage {
    /// The Official Account's original id (`gh_…`; empty only in an encrypted reply envelope).
    pub to_user_name: String,
    /// The sender's openid (empty in a safe-mode envelope).
    pub from_user_name: String,
    /// Unix seconds (0 when absent).
    pub create_time: u64,
    /// `event`, `text`, `image`, … (empty in a safe-mode envelope).
    pub msg_type: String,
    /// For events: `subscribe`, `unsubscribe`, `SCAN`, `CLICK`, …
    pub event: Option<String>,
    /// For events: `qrscene_SCENE` (subscribe by QR code), `SCENE` (`SCAN`), a menu key, …
    pub event_key: Option<String>,
    /// For QR code events: the ticket of the scanned code.
    pub ticket: Option<String>,
    /// Compatible / safe mode: the base64 ciphertext.
    pub encrypt: Option<String>,
    /// For ordinary messages: WeChat's message id.
    pub msg_id: Option<u64>,
}

/// Every field as text; numbers are parsed afterwards so CDATA-wrapped numbers work too.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMessage {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "EventKey")]
    event_key: Option<String>,
    #[serde(rename = "Ticket")]
    ticket: Option<String>,
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
    #[serde(rename = "MsgId")]
    msg_id: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

fn number(v: Option<String>, what: &str) -> Result<Option<u64>, PushError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| PushError::Xml(format!("{what} is not a number"))),
    }
}

impl PushMessage {
    /// Parses a push body (at most [`MAX_BODY_BYTES`]). The root element must contain a
    /// non-empty `ToUserName` (every push has one) or `Encrypt` (an encrypted reply).
    ///
    /// ```
    /// use wechat_auth::push::{PushError, PushMessage};
    ///
    /// let safe = PushMessage::parse(
    ///     "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[QUJD]]></Encrypt></xml>",
    /// ).unwrap();
    /// assert_eq!(safe.encrypt.as_deref(), Some("QUJD"));
    /// assert!(matches!(PushMessage::parse("{\"json\":1}"), Err(PushError::Xml(_))));
    /// assert_eq!(PushMessage::parse(&"x".repeat(70_000)), Err(PushError::TooLarge));
    /// ```
    pub fn parse(xml: &str) -> Result<Self, PushError> {
        if xml.len() > MAX_BODY_BYTES {
            return Err(PushError::TooLarge);
        }
        let raw: RawMessage =
            quick_xml::de::from_str(xml).map_err(|e| PushError::Xml(e.to_string()))?;
        let to_user_name = non_empty(raw.to_user_name);
        let encrypt = non_empty(raw.encrypt);
        if to_user_name.is_none() && encrypt.is_none() {
            return Err(PushError::Xml("neither ToUserName nor Encrypt".into()));
        }
        Ok(PushMessage {
            to_user_name: to_user_name.unwrap_or_default(),
            from_user_name: raw.from_user_name.unwrap_or_default(),
            create_time: number(raw.create_time, "CreateTime")?.unwrap_or(0),
            msg_type: raw.msg_type.unwrap_or_default(),
            event: non_empty(raw.event),
            event_key: non_empty(raw.event_key),
            ticket: non_empty(raw.ticket),
            encrypt,
            msg_id: number(raw.msg_id, "MsgId")?,
        })
    }

    /// Whether this is an event (`MsgType` `event`, any case).
    ///
    /// ```
    /// use wechat_auth::push::{event_xml, PushMessage};
    ///
    /// let xml = event_xml("gh_1", "oU", 1, "unsubscribe", "", "");
    /// assert!(PushMessage::parse(&xml).unwrap().is_event());
    /// ```
    pub fn is_event(&self) -> bool {
        self.msg_type.eq_ignore_ascii_case("event")
    }

    /// The scene of a parametric QR code this event reports a scan of, if any:
    /// `subscribe` with `EventKey` `qrscene_X` → `X` (a user who followed by scanning);
    /// `SCAN` with `EventKey` `X` → `X` (a follower who scanned). Event names are compared
    /// case-insensitively. A plain follow (no or empty key), product scans
    /// (`scanbarcode|…`, `scanimage|…`) and every other event or message give `None`.
    ///
    /// ```
    /// use wechat_auth::push::{event_xml, PushMessage};
    ///
    /// let scene = |event: &str, key: &str| {
    ///     PushMessage::parse(&event_xml("gh_1", "oU", 1, event, key, "T")).unwrap()
    ///         .scan_scene().map(str::to_owned)
    /// };
    /// assert_eq!(scene("subscribe", "qrscene_login_1").as_deref(), Some("login_1"));
    /// assert_eq!(scene("SCAN", "login_1").as_deref(), Some("login_1"));
    /// assert_eq!(scene("subscribe", ""), None);
    /// assert_eq!(scene("subscribe", "scanbarcode|EAN_13|6901234567892"), None);
    /// assert_eq!(scene("CLICK", "login_1"), None);
    /// ```
    pub fn scan_scene(&self) -> Option<&str> {
        if !self.is_event() {
            return None;
        }
        let event = self.event.as_deref()?;
        let key = self.event_key.as_deref()?;
        let scene = if event.eq_ignore_ascii_case("subscribe") {
            key.strip_prefix("qrscene_")?
        } else if event.eq_ignore_ascii_case("scan") {
            key
        } else {
            return None;
        };
        let product = scene.starts_with("scanbarcode|") || scene.starts_with("scanimage|");
        (!scene.is_empty() && !product).then_some(scene)
    }

    /// The key to deduplicate re-deliveries on (WeChat re-sends the same XML when it got no
    /// answer in time): the `MsgId` for messages that have one; for events (and messages
    /// without one) WeChat's `FromUserName` + `CreateTime`, followed by `Event` and
    /// `EventKey`. A re-delivery is the same XML, so it has the same key; the event and key
    /// keep two different scans by one user within one second (`CreateTime` has whole
    /// seconds) from being taken for one.
    ///
    /// ```
    /// use wechat_auth::push::{event_xml, PushMessage};
    ///
    /// let msg = PushMessage::parse(&event_xml("gh_1", "oU", 1700000000, "SCAN", "1", "T")).unwrap();
    /// assert_eq!(msg.dedupe_key(), "oU:1700000000:SCAN:1");
    /// let other = PushMessage::parse(&event_xml("gh_1", "oU", 1700000000, "SCAN", "2", "T2")).unwrap();
    /// assert_ne!(msg.dedupe_key(), other.dedupe_key());
    /// let text = PushMessage::parse("<xml><ToUserName>gh_1</ToUserName><FromUserName>oU</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1234567890123456</MsgId></xml>").unwrap();
    /// assert_eq!(text.dedupe_key(), "1234567890123456");
    /// ```
    pub fn dedupe_key(&self) -> String {
        match self.msg_id {
            Some(id) if !self.is_event() => id.to_string(),
            _ => format!(
                "{}:{}:{}:{}",
                self.from_user_name,
                self.create_time,
                self.event.as_deref().unwrap_or_default(),
                self.event_key.as_deref().unwrap_or_default()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng as _, SeedableRng as _};

    const TOKEN: &str = "mocktoken";
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APPID: &str = "wx0000000000000001";
    const MSG: &str = "<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName><FromUserName><![CDATA[oMOCKopenid0000000000000001]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_login_abc123]]></EventKey><Ticket><![CDATA[TICKETVALUE]]></Ticket></xml>";
    const ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDI8ESvIh6GlJlvJvJI+u3zNXPc8LEaBeg0XCY14ZyhmFCtoDmoVbtM7pxJSNJZib4121LuvUFR+0N9vlDcLlhmathBaMia00ZJrJJeE/GMo4iwvH9d6EWtM0eKEl7q2xqhLTDW/59UDOSW9z4NW3QHc3QIU/8oUSikiSzLW6yw85+HwbikXc6gJthk/s/M+5fIwMlxHgq2dxK9SqocKpl2nNemp4ROjav719YqMn5+7UB4zpmFHooGbvfk6whBzr863dzRcf0shl+Ra65lm+eI0/mBpSDPNULPp5CWth/KF73kADeCMaRiX1pa7ftynMLcQXjE6gX6uB6R3AaCt82v7zEBFqTDBiKRQOM8JoV5CbOEkpIPRnAzuo5RpRXIm+uU3mUdD9qcfOIHHpotcgv2FgWQNzFK02sfV7ZjtbStNRW0VfdWqH333QPtkTSGC5Em0RdvGuDl9clOwp803CnENyj5EzjtP5dJ89tiF/BTyP";
    const REPLY: &str = "<xml><ToUserName><![CDATA[oMOCKopenid0000000000000001]]></ToUserName><FromUserName><![CDATA[gh_000000000001]]></FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>";
    const REPLY_ENCRYPT: &str = "DpQeJfnf/MGZ/+GTIspwVNGiqjvXsIWWUiDXZtuw+ZXUNEZWGEHVq8UyNvpE2LTqR/QpDVpTZ8hqscp5XTSiv72lI/2opCL65WfzHjDiscV2pcnrbtXwI6CMzNrZKo8ilaJkQ3AahFwWCn6w25t32yemoWjZ8l4fzlsjZlzEzuoAKK1PygPa8hk9+E7tb+h+rH6BkhiiWArrQoZwlqBlP+SXS6PK36z4ardG3o7wBkGHz8aDZ8t7QBSbgzxmJjH/NRjNrJ1g0Fin0o511n/pDBRUXYLG0SEpa9OFC35WnGrBs4wKp28E+cJ8cECjkVYTFXVScY4BZ0F9o3WKC+xIvBz8XozsN3Yd8lZNgs8aqOW1HMtUR9Xe23q/Vc1msyQS";

    fn crypto() -> PushCrypto {
        PushCrypto::new(TOKEN, Some(KEY), APPID).unwrap()
    }

    #[test]
    fn timestamp_window_is_five_minutes_either_way() {
        let now = 1_714_036_504;
        let w = TIMESTAMP_WINDOW.as_secs();
        assert_eq!(w, 300);
        for ok in [now, now - 1, now + 1, now - w, now + w] {
            assert_eq!(check_timestamp(&ok.to_string(), now), Ok(ok), "{ok}");
        }
        for stale in [
            now - w - 1,
            now + w + 1,
            now - 600,
            now + 600,
            0,
            1,
            u64::MAX,
        ] {
            assert_eq!(
                check_timestamp(&stale.to_string(), now),
                Err(PushError::StaleTimestamp),
                "{stale}"
            );
        }
        // Leading zeros are still decimal seconds (the signature covers the exact text).
        assert_eq!(check_timestamp("01714036504", now), Ok(now));
    }

    #[test]
    fn timestamp_must_be_plain_decimal() {
        let now = 1_714_036_504;
        for bad in [
            "",
            "abc",
            " 1714036504",
            "1714036504 ",
            "+1714036504",
            "-1714036504",
            "1714036504.0",
            "1.714036504e9",
            "0x6628a118",
            "１７１４０３６５０４", // full-width digits
            "171403650４",
            "99999999999999999999",           // 20 digits, larger than u64
            "000000000000000000001714036504", // too long
        ] {
            assert_eq!(
                check_timestamp(bad, now),
                Err(PushError::StaleTimestamp),
                "{bad:?}"
            );
        }
        // Near the ends of the clock nothing overflows.
        assert_eq!(check_timestamp("0", 0), Ok(0));
        assert_eq!(check_timestamp("300", 0), Ok(300));
        assert_eq!(check_timestamp("301", 0), Err(PushError::StaleTimestamp));
        let max = u64::MAX.to_string();
        assert_eq!(check_timestamp(&max, u64::MAX), Ok(u64::MAX));
    }

    /// Encrypts raw plaintext bytes (no padding added) with the vector key, to build
    /// malformed messages.
    fn seal_raw(plain: &[u8]) -> String {
        let key = aes_key(KEY).unwrap();
        let c = Aes256CbcEnc::new_from_slices(&key, &key[..16])
            .unwrap()
            .encrypt_padded_vec_mut::<NoPadding>(plain);
        STANDARD.encode(c)
    }

    /// A well-formed plaintext for `msg`/`appid` with the pad bytes given.
    fn layout(msg: &[u8], len_field: u32, appid: &[u8]) -> Vec<u8> {
        let mut p = b"0123456789abcdef".to_vec();
        p.extend_from_slice(&len_field.to_be_bytes());
        p.extend_from_slice(msg);
        p.extend_from_slice(appid);
        p
    }

    fn pad(mut p: Vec<u8>) -> Vec<u8> {
        let n = PAD_BLOCK - p.len() % PAD_BLOCK;
        p.resize(p.len() + n, n as u8);
        p
    }

    #[test]
    fn official_url_signature_vectors() {
        let c = PushCrypto::new("AAAAA", None, "wx1").unwrap();
        assert_eq!(
            c.signature("1714036504", "1514711492"),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_eq!(
            c.signature("1714037059", "486452656"),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
        assert!(c.verify_signature(
            "f464b24fc39322e44b38aa78f5edd27bd1441696",
            "1714036504",
            "1514711492"
        ));
        assert!(c.verify_signature(
            "899CF89E464EFB63F54DDAC96B0A0A235F53AA78",
            "1714037059",
            "486452656"
        ));
        assert!(!c.verify_signature("", "1714037059", "486452656"));
        assert!(!c.verify_signature(
            "899cf89e464efb63f54ddac96b0a0a235f53aa7",
            "1714037059",
            "486452656"
        ));
        let q = PushQuery::parse(
            "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492",
        );
        assert_eq!(c.verify_get(&q), Ok("4375120948345356249"));
        let no_echo = PushQuery::parse(
            "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492",
        );
        assert_eq!(c.verify_get(&no_echo), Err(PushError::Missing("echostr")));
    }

    #[test]
    fn key_is_decoded_leniently_and_checked() {
        assert_eq!(
            hex::encode(aes_key(KEY).unwrap()),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        // Non-zero trailing bits in the last character: the strict engine refuses this key.
        let sample = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
        assert!(STANDARD.decode(format!("{sample}=")).is_err());
        assert!(PushCrypto::new("t", Some(sample), "wx1").unwrap().has_aes());
        for bad in [
            "",
            "short",
            &KEY[..42],
            &format!("{KEY}A"),
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEé",
        ] {
            assert_eq!(
                PushCrypto::new("t", Some(bad), "wx1").unwrap_err(),
                PushError::BadKey,
                "{bad:?}"
            );
        }
        assert_eq!(
            crypto().with_previous_key("nope").unwrap_err(),
            PushError::BadKey
        );
    }

    #[test]
    fn inbound_vector() {
        let c = crypto();
        assert_eq!(MSG.len(), 331);
        assert_eq!(c.encrypt(MSG, *b"0123456789abcdef").unwrap(), ENCRYPT);
        assert_eq!(
            c.msg_signature("1700000000", "123456789", ENCRYPT),
            "352bd5aed7ce5cfe349e956946afa43131b7fd3a"
        );
        assert_eq!(
            c.signature("1700000000", "123456789"),
            "009b5130800b140b20b903e9993552e67db83503"
        );
        assert!(c.verify_msg_signature(
            "352bd5aed7ce5cfe349e956946afa43131b7fd3a",
            "1700000000",
            "123456789",
            ENCRYPT
        ));
        let plain = c.decrypt(ENCRYPT).unwrap();
        assert_eq!(plain, MSG);
        assert_eq!(plain.len(), 331);
        // The layout of the vector: 369 bytes before padding, 15 pad bytes, 384 cipher bytes.
        assert_eq!(STANDARD.decode(ENCRYPT).unwrap().len(), 384);
        // event_xml writes exactly this message.
        assert_eq!(
            event_xml(
                "gh_000000000001",
                "oMOCKopenid0000000000000001",
                1_700_000_000,
                "subscribe",
                "qrscene_login_abc123",
                "TICKETVALUE"
            ),
            MSG
        );
    }

    #[test]
    fn open_post_vector_and_refusals() {
        let c = crypto();
        let body = safe_mode_xml("gh_000000000001", ENCRYPT);
        let base = "signature=009b5130800b140b20b903e9993552e67db83503&timestamp=1700000000&nonce=123456789&openid=oMOCKopenid0000000000000001";
        let good = PushQuery::parse(&format!(
            "{base}&encrypt_type=aes&msg_signature=352bd5aed7ce5cfe349e956946afa43131b7fd3a"
        ));
        let msg = c.open_post(&good, &body).unwrap();
        assert_eq!(msg.scan_scene(), Some("login_abc123"));
        assert_eq!(msg.from_user_name, "oMOCKopenid0000000000000001");
        // Wrong msg_signature, missing msg_signature, wrong URL signature.
        let bad_sig = PushQuery::parse(&format!(
            "{base}&encrypt_type=aes&msg_signature=352bd5aed7ce5cfe349e956946afa43131b7fd3b"
        ));
        assert_eq!(c.open_post(&bad_sig, &body), Err(PushError::BadSignature));
        let no_sig = PushQuery::parse(&format!("{base}&encrypt_type=aes"));
        assert_eq!(
            c.open_post(&no_sig, &body),
            Err(PushError::Missing("msg_signature"))
        );
        let wrong_url = PushQuery::parse(&good_with(&good, |q| {
            q.signature = Some("0".repeat(40));
        }));
        assert_eq!(c.open_post(&wrong_url, &body), Err(PushError::BadSignature));
        // Plaintext posts are refused once a key is configured...
        let plain = PushQuery::parse(base);
        assert_eq!(c.open_post(&plain, MSG), Err(PushError::NotEncrypted));
        // ...and accepted without one.
        let plain_crypto = PushCrypto::new(TOKEN, None, APPID).unwrap();
        assert_eq!(
            plain_crypto.open_post(&plain, MSG).unwrap().scan_scene(),
            Some("login_abc123")
        );
        // Safe mode asked for but no key configured.
        assert_eq!(
            plain_crypto.open_post(&good, &body),
            Err(PushError::NoAesKey)
        );
        // Encrypted mode without an Encrypt element.
        assert_eq!(c.open_post(&good, MSG), Err(PushError::Missing("Encrypt")));
    }

    /// Re-serialises a query after editing it.
    fn good_with(q: &PushQuery, edit: impl FnOnce(&mut PushQuery)) -> String {
        let mut q = q.clone();
        edit(&mut q);
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("signature", &q.signature),
            ("timestamp", &q.timestamp),
            ("nonce", &q.nonce),
            ("openid", &q.openid),
            ("encrypt_type", &q.encrypt_type),
            ("msg_signature", &q.msg_signature),
        ] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }

    #[test]
    fn reply_vector() {
        let c = crypto();
        let encrypt = c.encrypt(REPLY, *b"fedcba9876543210").unwrap();
        assert_eq!(encrypt, REPLY_ENCRYPT);
        assert_eq!(
            c.msg_signature("1700000001", "987654321", &encrypt),
            "308e2dfa85c0c990316e58c90f8d4ac3004b084e"
        );
        assert_eq!(
            reply_envelope(
                &encrypt,
                "308e2dfa85c0c990316e58c90f8d4ac3004b084e",
                "1700000001",
                "987654321"
            ),
            format!(
                "<xml><Encrypt><![CDATA[{REPLY_ENCRYPT}]]></Encrypt><MsgSignature><![CDATA[308e2dfa85c0c990316e58c90f8d4ac3004b084e]]></MsgSignature><TimeStamp>1700000001</TimeStamp><Nonce><![CDATA[987654321]]></Nonce></xml>"
            )
        );
        // encrypt_reply: fresh random each time, signature over its own Encrypt.
        let a = c.encrypt_reply(REPLY, "1700000001", "987654321").unwrap();
        let b = c.encrypt_reply(REPLY, "1700000001", "987654321").unwrap();
        assert_ne!(a, b);
        let envelope = PushMessage::parse(&a).unwrap(); // a reply has Encrypt, no ToUserName
        assert_eq!(envelope.to_user_name, "");
        assert!(envelope.encrypt.is_some());
        let between = |s: &str, open: &str, close: &str| {
            let start = s.find(open).unwrap() + open.len();
            let end = s[start..].find(close).unwrap() + start;
            s[start..end].to_owned()
        };
        let encrypt = between(&a, "<Encrypt><![CDATA[", "]]></Encrypt>");
        let sig = between(&a, "<MsgSignature><![CDATA[", "]]></MsgSignature>");
        assert!(c.verify_msg_signature(&sig, "1700000001", "987654321", &encrypt));
        assert_eq!(c.decrypt(&encrypt).unwrap(), REPLY);
        assert!(
            a.contains("<TimeStamp>1700000001</TimeStamp><Nonce><![CDATA[987654321]]></Nonce>")
        );
    }

    #[test]
    fn wrong_appid_is_refused() {
        let other = PushCrypto::new(TOKEN, Some(KEY), "wx0000000000000002").unwrap();
        assert_eq!(other.decrypt(ENCRYPT), Err(PushError::AppIdMismatch));
        let prefix = PushCrypto::new(TOKEN, Some(KEY), "wx000000000000000").unwrap();
        assert_eq!(prefix.decrypt(ENCRYPT), Err(PushError::AppIdMismatch));
        let empty = PushCrypto::new(TOKEN, Some(KEY), "").unwrap();
        assert_eq!(empty.decrypt(ENCRYPT), Err(PushError::AppIdMismatch));
    }

    #[test]
    fn no_key_means_no_crypto() {
        let c = PushCrypto::new(TOKEN, None, APPID).unwrap();
        assert_eq!(c.decrypt(ENCRYPT), Err(PushError::NoAesKey));
        assert_eq!(c.encrypt("x", [0; 16]), Err(PushError::NoAesKey));
        assert_eq!(c.encrypt_reply("x", "1", "2"), Err(PushError::NoAesKey));
    }

    #[test]
    fn malformed_ciphertexts_are_errors() {
        let c = crypto();
        assert_eq!(c.decrypt(""), Err(PushError::BadLength));
        assert_eq!(c.decrypt("@@@@"), Err(PushError::BadBase64));
        assert_eq!(c.decrypt("QUJD"), Err(PushError::BadLength)); // 3 bytes
        assert_eq!(
            c.decrypt(&"A".repeat(MAX_BODY_BYTES + 4)),
            Err(PushError::TooLarge)
        );
        // Truncated by one block, and by one byte.
        let bytes = STANDARD.decode(ENCRYPT).unwrap();
        assert!(
            c.decrypt(&STANDARD.encode(&bytes[..bytes.len() - 16]))
                .is_err()
        );
        assert_eq!(
            c.decrypt(&STANDARD.encode(&bytes[..bytes.len() - 1])),
            Err(PushError::BadLength)
        );
        // Pad byte 0, 33, and inconsistent pad bytes.
        let body = layout(b"<xml/>", 6, APPID.as_bytes());
        let mut zero = pad(body.clone());
        *zero.last_mut().unwrap() = 0;
        assert_eq!(c.decrypt(&seal_raw(&zero)), Err(PushError::BadPadding));
        let mut big = body.clone();
        big.resize(64, 33);
        assert_eq!(c.decrypt(&seal_raw(&big)), Err(PushError::BadPadding));
        let mut mixed = pad(body.clone());
        let n = mixed.len();
        mixed[n - 2] ^= 1;
        assert_eq!(c.decrypt(&seal_raw(&mixed)), Err(PushError::BadPadding));
        // A full block of 32 when aligned is fine; a pad bigger than the data is not.
        assert_eq!(c.decrypt(&seal_raw(&pad(body.clone()))).unwrap(), "<xml/>");
        assert_eq!(c.decrypt(&seal_raw(&[32u8; 32])), Err(PushError::BadLength));
        // Length field beyond the data; a message that is not UTF-8.
        let long = pad(layout(b"<xml/>", 1_000_000, APPID.as_bytes()));
        assert_eq!(c.decrypt(&seal_raw(&long)), Err(PushError::BadLength));
        let huge = pad(layout(b"<xml/>", u32::MAX, APPID.as_bytes()));
        assert_eq!(c.decrypt(&seal_raw(&huge)), Err(PushError::BadLength));
        let latin1 = pad(layout(b"caf\xe9", 4, APPID.as_bytes()));
        assert_eq!(c.decrypt(&seal_raw(&latin1)), Err(PushError::BadUtf8));
        // Shorter than the 20-byte header.
        let tiny = pad(b"0123456789".to_vec());
        assert_eq!(c.decrypt(&seal_raw(&tiny)), Err(PushError::BadLength));
    }

    #[test]
    fn random_mutations_never_panic() {
        let c = crypto();
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let bytes = STANDARD.decode(ENCRYPT).unwrap();
        let mut errors = 0;
        for i in 0..600 {
            let mut m = bytes.clone();
            match i % 4 {
                0 => {
                    let at = rng.random_range(0..m.len());
                    m[at] ^= rng.random_range(1..=255u8);
                }
                1 => {
                    let len = rng.random_range(0..m.len());
                    m.truncate(len);
                }
                2 => {
                    let extra = rng.random_range(1..64);
                    m.extend((0..extra).map(|_| rng.random::<u8>()));
                }
                _ => {
                    let len = rng.random_range(0..512);
                    m = (0..len).map(|_| rng.random::<u8>()).collect();
                }
            }
            let result = c.decrypt(&STANDARD.encode(&m));
            // CBC is malleable: a flipped bit in the random prefix block can still decrypt,
            // but never to the original message with a changed ciphertext tail.
            if let Ok(plain) = &result {
                assert!(i % 4 == 0, "only single-byte flips may still decrypt: {i}");
                let _ = plain;
            } else {
                errors += 1;
            }
            // Mutated base64 text, too.
            let mut text: Vec<u8> = ENCRYPT.as_bytes().to_vec();
            let at = rng.random_range(0..text.len());
            text[at] = rng.random_range(0x20..0x7f);
            let _ = c.decrypt(&String::from_utf8_lossy(&text));
        }
        assert!(errors > 500, "{errors}");
    }

    #[test]
    fn key_rotation() {
        let old = crypto();
        let sealed_old = old.encrypt(MSG, [3; 16]).unwrap();
        let new_key = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
        let rotated = PushCrypto::new(TOKEN, Some(new_key), APPID)
            .unwrap()
            .with_previous_key(KEY)
            .unwrap();
        let sealed_new = rotated.encrypt(MSG, [4; 16]).unwrap();
        assert_eq!(
            rotated.decrypt_keyed(&sealed_old).unwrap(),
            (MSG.to_owned(), KeySlot::Previous)
        );
        assert_eq!(
            rotated.decrypt_keyed(&sealed_new).unwrap(),
            (MSG.to_owned(), KeySlot::Current)
        );
        assert!(old.decrypt(&sealed_new).is_err());
        // Replies go out with the key that worked.
        let reply = rotated
            .encrypt_reply_with(KeySlot::Previous, REPLY, "1", "2")
            .unwrap();
        let encrypt = PushMessage::parse(&reply).unwrap().encrypt.unwrap();
        assert_eq!(old.decrypt(&encrypt).unwrap(), REPLY);
        // Neither key: the error is the current key's.
        let stranger = PushCrypto::new(TOKEN, Some(&"Z".repeat(43)), APPID).unwrap();
        let foreign = stranger.encrypt(MSG, [5; 16]).unwrap();
        assert!(rotated.decrypt(&foreign).is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        let d = format!("{:?}", crypto());
        assert!(
            !d.contains(TOKEN) && !d.contains("69b71d79") && !d.contains(KEY),
            "{d}"
        );
        assert!(d.contains(APPID));
    }

    #[test]
    fn parses_protocol_examples() {
        let subscribe = "<xml>
  <ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>
  <FromUserName><![CDATA[oUSERopenid000000000000000001]]></FromUserName>
  <CreateTime>1700000000</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe]]></Event>
  <EventKey><![CDATA[qrscene_123123]]></EventKey>
  <Ticket><![CDATA[TICKET]]></Ticket>
</xml>";
        let m = PushMessage::parse(subscribe).unwrap();
        assert_eq!(
            m,
            PushMessage {
                to_user_name: "gh_0123456789ab".into(),
                from_user_name: "oUSERopenid000000000000000001".into(),
                create_time: 1_700_000_000,
                msg_type: "event".into(),
                event: Some("subscribe".into()),
                event_key: Some("qrscene_123123".into()),
                ticket: Some("TICKET".into()),
                encrypt: None,
                msg_id: None,
            }
        );
        assert_eq!(m.scan_scene(), Some("123123"));
        assert_eq!(
            m.dedupe_key(),
            "oUSERopenid000000000000000001:1700000000:subscribe:qrscene_123123"
        );

        let scan = subscribe
            .replace("[subscribe]", "[SCAN]")
            .replace("qrscene_123123", "123123");
        let m = PushMessage::parse(&scan).unwrap();
        assert_eq!(m.event.as_deref(), Some("SCAN"));
        assert_eq!(m.scan_scene(), Some("123123"));
        assert_eq!(m.ticket.as_deref(), Some("TICKET"));
    }

    #[test]
    fn scan_scene_edge_cases() {
        let parse = |xml: &str| PushMessage::parse(xml).unwrap();
        // Plain subscribe, no EventKey element at all, or an empty one.
        let plain = parse(
            "<xml><ToUserName>gh_1</ToUserName><FromUserName>oU</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>",
        );
        assert_eq!(plain.event_key, None);
        assert_eq!(plain.scan_scene(), None);
        let empty = parse(&event_xml("gh_1", "oU", 1, "subscribe", "", ""));
        assert_eq!(
            (empty.event_key.clone(), empty.ticket.clone()),
            (None, None)
        );
        assert_eq!(empty.scan_scene(), None);
        assert_eq!(
            parse(&event_xml("gh_1", "oU", 1, "subscribe", "qrscene_", "T")).scan_scene(),
            None
        );
        // Product scans.
        for key in ["scanbarcode|EAN_13|6901234567892", "scanimage|abc"] {
            assert_eq!(
                parse(&event_xml("gh_1", "oU", 1, "subscribe", key, "")).scan_scene(),
                None
            );
            assert_eq!(
                parse(&event_xml("gh_1", "oU", 1, "SCAN", key, "")).scan_scene(),
                None
            );
        }
        // Case-insensitive events and MsgType.
        assert_eq!(
            parse(&event_xml("gh_1", "oU", 1, "scan", "42", "T")).scan_scene(),
            Some("42")
        );
        assert_eq!(
            parse(&event_xml("gh_1", "oU", 1, "Subscribe", "qrscene_42", "T")).scan_scene(),
            Some("42")
        );
        let upper = event_xml("gh_1", "oU", 1, "SCAN", "42", "T").replace("[event]", "[EVENT]");
        assert_eq!(parse(&upper).scan_scene(), Some("42"));
        // Other events and messages.
        assert_eq!(
            parse(&event_xml("gh_1", "oU", 1, "unsubscribe", "", "")).scan_scene(),
            None
        );
        assert_eq!(
            parse(&event_xml("gh_1", "oU", 1, "CLICK", "42", "")).scan_scene(),
            None
        );
        let text = parse(
            "<xml><ToUserName>gh_1</ToUserName><FromUserName>oU</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>qrscene_1</Content><MsgId>77</MsgId><EventKey>1</EventKey></xml>",
        );
        assert_eq!(text.scan_scene(), None);
        assert_eq!(text.msg_id, Some(77));
        assert_eq!(text.dedupe_key(), "77");
    }

    #[test]
    fn parses_safe_mode_and_odd_but_valid_xml() {
        let safe = PushMessage::parse(&safe_mode_xml("gh_000000000001", ENCRYPT)).unwrap();
        assert_eq!(safe.to_user_name, "gh_000000000001");
        assert_eq!(safe.encrypt.as_deref(), Some(ENCRYPT));
        assert_eq!((safe.create_time, safe.msg_type.as_str()), (0, ""));
        assert_eq!(safe.scan_scene(), None);
        // Compatible mode: plaintext fields and Encrypt.
        let compat = MSG.replace(
            "</xml>",
            &format!("<Encrypt><![CDATA[{ENCRYPT}]]></Encrypt></xml>"),
        );
        let m = PushMessage::parse(&compat).unwrap();
        assert_eq!(
            (m.scan_scene(), m.encrypt.is_some()),
            (Some("login_abc123"), true)
        );
        // Unknown (also nested) elements, an XML declaration, entities, CDATA numbers.
        let odd = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml><ToUserName>gh_&amp;1</ToUserName>\
            <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult>x</ScanResult></ScanCodeInfo>\
            <CreateTime><![CDATA[ 1700000000 ]]></CreateTime><MsgType>event</MsgType><Event>SCAN</Event>\
            <EventKey>a]]&gt;b</EventKey><Foo/></xml>";
        let m = PushMessage::parse(odd).unwrap();
        assert_eq!(m.to_user_name, "gh_&1");
        assert_eq!(m.create_time, 1_700_000_000);
        assert_eq!(m.scan_scene(), Some("a]]>b"));
        // CDATA splitting in event_xml survives a round trip.
        let tricky = event_xml("gh_1", "o]]>U", 1, "SCAN", "k]]>", "t");
        let m = PushMessage::parse(&tricky).unwrap();
        assert_eq!(
            (m.from_user_name.as_str(), m.scan_scene()),
            ("o]]>U", Some("k]]>"))
        );
    }

    #[test]
    fn garbage_and_oversized_input_are_errors() {
        for bad in [
            "",
            "   ",
            "success",
            "{\"ToUserName\":\"gh_1\"}",
            "<xml>",
            "<xml><ToUserName>gh_1</ToUserName>",
            "<xml></xml>",
            "<xml><ToUserName></ToUserName></xml>",
            "<xml><FromUserName>oU</FromUserName><MsgType>event</MsgType></xml>",
            "<xml><ToUserName>gh_1</ToUserName><CreateTime>soon</CreateTime></xml>",
            "<xml><ToUserName>gh_1</ToUserName><MsgId>-1</MsgId></xml>",
            "<xml><ToUserName>gh_1</ToUserName></yml>",
            "<xml><ToUserName>&xxe;</ToUserName></xml>",
            "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><xml><ToUserName>&a;</ToUserName></xml>",
            "<xml><ToUserName>gh_1</ToUserName><ToUserName>gh_2</ToUserName></xml>",
        ] {
            assert!(PushMessage::parse(bad).is_err(), "{bad:?} parsed");
        }
        let big = format!(
            "<xml><ToUserName>gh_1</ToUserName><Pad>{}</Pad></xml>",
            "x".repeat(MAX_BODY_BYTES)
        );
        assert_eq!(PushMessage::parse(&big), Err(PushError::TooLarge));
        // Deep nesting within the size limit must not overflow the stack.
        let depth = 9_000;
        let deep = format!(
            "<xml><ToUserName>gh_1</ToUserName>{}{}</xml>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        assert!(deep.len() < MAX_BODY_BYTES);
        let _ = PushMessage::parse(&deep);
        // Random bytes and random cuts of a real message never panic.
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let cut = rng.random_range(0..MSG.len());
            let _ = PushMessage::parse(&MSG[..cut]);
            let mut b = MSG.as_bytes().to_vec();
            let at = rng.random_range(0..b.len());
            b[at] = rng.random_range(0x20..0x7f);
            let _ = PushMessage::parse(&String::from_utf8_lossy(&b));
        }
    }
}
