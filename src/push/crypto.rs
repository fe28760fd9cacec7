//! [`PushCrypto`]: the push `Token`'s signatures and the `EncodingAESKey`'s AES safe mode.

use std::fmt;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq as _;

#[cfg(test)]
use super::writers::cdata;
use super::{MAX_BODY_BYTES, PushError, PushFormat, PushMessage, PushQuery};

pub(super) type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Length of an `EncodingAESKey`: 43 characters of `[A-Za-z0-9]`.
const ENCODING_AES_KEY_LEN: usize = 43;
/// The plaintext is padded (PKCS#7) to a multiple of 32 bytes, not the AES block size.
pub(super) const PAD_BLOCK: usize = 32;
/// `random(16) ‖ msg_len(4)` before the message.
const HEADER_LEN: usize = 20;

/// Base64 that accepts non-zero trailing bits: real EncodingAESKeys have them in their last
/// character, and the strict engine refuses them (protocol §7.4, "Rust gotcha").
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// A push that passed its checks, as [`PushCrypto::open`] read it.
///
/// `Debug` leaves out the document (it may be a user's private message).
#[derive(Clone)]
#[non_exhaustive]
pub struct OpenedPush {
    /// The common fields.
    pub message: PushMessage,
    /// The whole document WeChat sent (decrypted when it came encrypted): every field,
    /// including the ones [`PushMessage`] does not name.
    pub document: String,
    /// The format it came in (and a reply must go back in).
    pub format: PushFormat,
    /// Whether it came encrypted: then a reply must be encrypted too.
    pub encrypted: bool,
}

impl fmt::Debug for OpenedPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedPush")
            .field("msg_type", &self.message.msg_type)
            .field("event", &self.message.event)
            .field("format", &self.format)
            .field("encrypted", &self.encrypted)
            .finish_non_exhaustive()
    }
}

/// Signs, verifies, decrypts and encrypts pushes of one Official Account.
///
/// Holds the push `Token`, the AES key derived from the `EncodingAESKey` (if any) and the
/// appid. `Debug` shows neither token nor key.
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
}

impl fmt::Debug for PushCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushCrypto")
            .field("token", &"***")
            .field("appid", &self.appid)
            .field("key", &self.key.map(|_| "***"))
            .finish()
    }
}

/// Decodes an EncodingAESKey into the 32-byte AES key (`Base64Decode(key + "=")`, lenient
/// about trailing bits).
pub(super) fn aes_key(encoding_aes_key: &str) -> Result<[u8; 32], PushError> {
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
        })
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
    /// ours. Errors, never panics, on any input.
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
        let key = self.key.as_ref().ok_or(PushError::NoAesKey)?;
        if encrypt_b64.len() > MAX_BODY_BYTES {
            return Err(PushError::TooLarge);
        }
        let sealed = STANDARD
            .decode(encrypt_b64.trim())
            .map_err(|_| PushError::BadBase64)?;
        open(key, &sealed, &self.appid)
    }

    /// Encrypts `msg` with the key and the given 16 random bytes, and returns the base64
    /// `Encrypt` value, as WeChat does before it pushes an event in safe mode.
    ///
    /// A test helper: the layer only decrypts. Tests and benches use it (with the mock's
    /// `wechat_auth::mock::wire::safe_mode_xml`) to build the pushes WeChat would send; fixed
    /// random bytes make test vectors, anything real needs fresh ones.
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
        let key = self.key.as_ref().ok_or(PushError::NoAesKey)?;
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

    /// Verifies the `GET` WeChat sends to check a push URL and returns the `echostr` to
    /// answer (as a plain-text body).
    ///
    /// This checks the signature only, not freshness: also refuse a stale `timestamp`
    /// ([`check_timestamp`](super::check_timestamp)) and a query seen before (see the module docs).
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
    /// ([`check_timestamp`](super::check_timestamp)) and a signed query seen before with another body (see the
    /// module docs) — in plaintext mode that memory is all that stops a forged body.
    ///
    /// ```
    /// use wechat_auth::{mock::wire::event_xml, push::{PushCrypto, PushQuery}};
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
        let format = PushFormat::sniff(None, body.as_bytes());
        self.open(query, format, body).map(|o| o.message)
    }

    /// Like [`open_post`](Self::open_post), for a body in `format`, and keeps what was
    /// read: the message, the document it came from (decrypted in compatible and safe mode),
    /// and whether it was encrypted (then a reply must be too).
    ///
    /// In compatible mode (`encrypt_type=aes`, the body carries the plain fields *and*
    /// `Encrypt`) only the decrypted copy is trusted when a key is configured: the plain
    /// fields are covered by no signature. Without a key they are read, as a plaintext push
    /// would be.
    ///
    /// ```
    /// use wechat_auth::push::{PushCrypto, PushFormat, PushQuery};
    ///
    /// # fn main() -> Result<(), wechat_auth::push::PushError> {
    /// // The safe-mode JSON push of the protocol addendum (§15.3).
    /// let c = PushCrypto::new("AAAAA", Some(&"A".repeat(43)), "wxba5fad812f8e6fb9")?;
    /// let q = PushQuery::parse("signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445\
    ///     &nonce=415670741&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes\
    ///     &msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    /// let body = r#"{"ToUserName": "gh_97417a04a28d", "Encrypt": "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="}"#;
    /// let opened = c.open(&q, PushFormat::Json, body)?;
    /// assert!(opened.encrypted);
    /// assert_eq!(opened.message.event.as_deref(), Some("debug_demo"));
    /// assert!(opened.document.contains(r#""debug_str":"hello world""#));
    /// # Ok(()) }
    /// ```
    pub fn open(
        &self,
        query: &PushQuery,
        format: PushFormat,
        body: &str,
    ) -> Result<OpenedPush, PushError> {
        let (timestamp, nonce) = self.check_url_signature(query)?;
        let outer = PushMessage::parse_as(format, body)?;
        if !query.is_encrypted() {
            if self.has_aes() {
                return Err(PushError::NotEncrypted);
            }
            return Ok(OpenedPush {
                message: outer,
                document: body.to_owned(),
                format,
                encrypted: false,
            });
        }
        if !self.has_aes() && outer.has_plain_fields() {
            // Compatible mode, and no key to check the ciphertext with: the plain copy.
            return Ok(OpenedPush {
                message: outer,
                document: body.to_owned(),
                format,
                encrypted: false,
            });
        }
        if !self.has_aes() {
            return Err(PushError::NoAesKey);
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
        let document = self.decrypt(encrypt)?;
        Ok(OpenedPush {
            message: PushMessage::parse_as(format, &document)?,
            document,
            format,
            encrypted: true,
        })
    }

    /// Checks the URL `signature` over token, timestamp and nonce; returns `(timestamp,
    /// nonce)`. Freshness is the caller's: see [`check_timestamp`](super::check_timestamp).
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

#[cfg(test)]
impl PushCrypto {
    /// The encrypted passive reply WeChat expects in safe mode:
    /// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`, with fresh random bytes.
    /// The layer answers a push with plain `success`, never with a reply; the vector tests
    /// keep this to check the envelope against WeChat's example.
    pub(super) fn encrypt_reply(
        &self,
        reply_xml: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, PushError> {
        let encrypt = self.encrypt(reply_xml, rand::random())?;
        Ok(reply_envelope(
            &encrypt,
            &self.msg_signature(timestamp, nonce, &encrypt),
            timestamp,
            nonce,
        ))
    }
}

/// The envelope of an encrypted passive reply (see [`PushCrypto::encrypt_reply`]).
#[cfg(test)]
pub(super) fn reply_envelope(
    encrypt: &str,
    msg_signature: &str,
    timestamp: &str,
    nonce: &str,
) -> String {
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
