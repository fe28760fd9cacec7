//! WeCom's callback crypto (WXBizMsgCrypt) and the command callback's events (protocol §7.4,
//! §27).
//!
//! - `msg_signature` = lowercase hex SHA-1 of the sorted, concatenated `token`, `timestamp`,
//!   `nonce` and the ciphertext (`Encrypt`, or the `echostr` of the URL check);
//! - AES-256-CBC, key = `Base64Decode(EncodingAESKey + "=")` (lenient about trailing bits),
//!   IV = the key's first 16 bytes, PKCS#7 padding to a multiple of **32** bytes;
//! - plaintext = 16 random bytes ‖ the message length (4 bytes, big-endian) ‖ message ‖
//!   ReceiveId. The ReceiveId is the corp id for a corp app's callback and the **SuiteID** for
//!   a third-party app's command callback (指令回调); decrypting checks it.

use std::fmt;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::Deserialize;
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq as _;
use wechat_auth_client::Secret;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Length of an `EncodingAESKey`: 43 characters of `[A-Za-z0-9]`.
const ENCODING_AES_KEY_LEN: usize = 43;
/// The plaintext is padded (PKCS#7) to a multiple of 32 bytes, not the AES block size.
const PAD_BLOCK: usize = 32;
/// `random(16) ‖ msg_len(4)` before the message.
const HEADER_LEN: usize = 20;
/// The largest ciphertext (base64) or callback body accepted.
pub const MAX_CALLBACK_BYTES: usize = 1 << 20;

/// Base64 that accepts non-zero trailing bits: real EncodingAESKeys have them in their last
/// character, and the strict engine refuses them (protocol §7.4, "Rust gotcha").
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a callback could not be verified, decrypted or read. The text names the likely cause.
///
/// ```
/// use wecom_client::{CryptoError, WecomCrypto};
///
/// let err = WecomCrypto::new("tok", "too short", "wwSUITE").unwrap_err();
/// assert_eq!(err, CryptoError::BadKey);
/// assert!(err.to_string().contains("EncodingAESKey"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]`.
    #[error("the EncodingAESKey must be the 43 letters and digits shown in the console")]
    BadKey,
    /// The `msg_signature` does not match: a forged request, or a Token that differs from
    /// the console's.
    #[error(
        "msg_signature does not match: the request is forged, or the configured Token differs \
         from the one set in the console"
    )]
    BadSignature,
    /// The ciphertext is not base64.
    #[error("the ciphertext is not base64")]
    BadBase64,
    /// The ciphertext or the plaintext layout has an impossible length.
    #[error(
        "the ciphertext does not decrypt to WeCom's layout: the configured EncodingAESKey \
         differs from the console's"
    )]
    BadLength,
    /// The PKCS#7 padding is wrong (almost always a wrong EncodingAESKey).
    #[error(
        "bad padding after decryption: the configured EncodingAESKey differs from the console's"
    )]
    BadPadding,
    /// The decrypted ReceiveId is not ours.
    #[error(
        "the message was encrypted for another ReceiveId (suite id or corp id) than the one \
         configured: check the SuiteID / CorpID"
    )]
    ReceiveIdMismatch,
    /// The decrypted message is not UTF-8.
    #[error("the decrypted message is not UTF-8")]
    BadUtf8,
    /// The input exceeds [`MAX_CALLBACK_BYTES`].
    #[error("the callback is larger than {MAX_CALLBACK_BYTES} bytes")]
    TooLarge,
    /// A required query parameter or XML element is missing or empty.
    #[error("`{0}` is missing")]
    Missing(&'static str),
    /// The body is not the XML WeCom sends.
    #[error("the body is not WeCom's XML callback")]
    BadXml,
}

/// A message decrypted without checking its ReceiveId (see [`WecomCrypto::decrypt_any`]).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decrypted {
    /// The message (XML).
    pub message: String,
    /// The ReceiveId it was encrypted for.
    pub receive_id: String,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("message_len", &self.message.len())
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

/// Signs, verifies, decrypts and encrypts the callbacks of one WeCom app or suite.
///
/// `Debug` shows neither the Token nor the key.
///
/// ```
/// use wecom_client::WecomCrypto;
///
/// # fn main() -> Result<(), wecom_client::CryptoError> {
/// let crypto = WecomCrypto::new("mocktoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wwSUITE")?;
/// let sealed = crypto.encrypt("<xml/>", [7; 16])?;
/// let sig = crypto.signature("1700000000", "42", &sealed);
/// assert_eq!(crypto.verify_url(&sig, "1700000000", "42", &sealed)?, "<xml/>");
/// assert!(!format!("{crypto:?}").contains("mocktoken"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WecomCrypto {
    token: Secret,
    key: [u8; 32],
    receive_id: String,
}

impl fmt::Debug for WecomCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WecomCrypto")
            .field("token", &self.token)
            .field("key", &"***")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

/// Lowercase hex SHA-1 of the sorted, concatenated parts.
fn sha1_sorted(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut h = Sha1::new();
    for p in parts.iter() {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

impl WecomCrypto {
    /// A crypto for the callback `token`, the `encoding_aes_key` (43 characters of
    /// `[A-Za-z0-9]`, decoded leniently as WeCom's SDKs do) and the `receive_id` messages must
    /// carry (the SuiteID for a third-party app's command callback).
    ///
    /// # Errors
    ///
    /// [`CryptoError::BadKey`] for a malformed key, [`CryptoError::Missing`] for an empty token
    /// or receive id.
    pub fn new(
        token: impl Into<Secret>,
        encoding_aes_key: &str,
        receive_id: impl Into<String>,
    ) -> Result<Self, CryptoError> {
        let token = token.into();
        let receive_id = receive_id.into();
        if token.is_empty() {
            return Err(CryptoError::Missing("token"));
        }
        if receive_id.is_empty() {
            return Err(CryptoError::Missing("receive_id"));
        }
        Ok(Self {
            token,
            key: aes_key(encoding_aes_key.trim())?,
            receive_id,
        })
    }

    /// The ReceiveId this crypto checks and encrypts for.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The `msg_signature` over a ciphertext: SHA-1 of the sorted `[token, timestamp, nonce,
    /// encrypt]`, lowercase hex.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sha1_sorted(&mut [self.token.expose(), timestamp, nonce, encrypt])
    }

    /// Checks a `msg_signature` (constant-time; upper-case hex accepted).
    pub fn verify_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> bool {
        let expected = self.signature(timestamp, nonce, encrypt);
        let received = msg_signature.trim().to_ascii_lowercase();
        received.len() == expected.len()
            && bool::from(received.as_bytes().ct_eq(expected.as_bytes()))
    }

    /// Decrypts a ciphertext and checks that its ReceiveId is ours.
    ///
    /// # Errors
    ///
    /// Every malformed input is an error, never a panic; a message for another ReceiveId is
    /// [`CryptoError::ReceiveIdMismatch`].
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let opened = self.decrypt_any(encrypt)?;
        if opened
            .receive_id
            .as_bytes()
            .ct_eq(self.receive_id.as_bytes())
            .into()
        {
            Ok(opened.message)
        } else {
            Err(CryptoError::ReceiveIdMismatch)
        }
    }

    /// Decrypts a ciphertext and returns the message with the ReceiveId it carries, **without**
    /// checking it — for a caller that accepts more than one (e.g. the provider's own corp id
    /// next to the SuiteID). Prefer [`decrypt`](Self::decrypt).
    ///
    /// # Errors
    ///
    /// As [`decrypt`](Self::decrypt), minus the ReceiveId check.
    pub fn decrypt_any(&self, encrypt: &str) -> Result<Decrypted, CryptoError> {
        if encrypt.len() > MAX_CALLBACK_BYTES {
            return Err(CryptoError::TooLarge);
        }
        let sealed = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| CryptoError::BadBase64)?;
        open(&self.key, &sealed)
    }

    /// Encrypts `msg` for our ReceiveId with the given 16 random bytes and returns the base64
    /// ciphertext. Fixed random bytes make test vectors; anything real needs fresh ones
    /// ([`encrypt_fresh`](Self::encrypt_fresh)).
    ///
    /// # Errors
    ///
    /// [`CryptoError::TooLarge`] when the result would exceed [`MAX_CALLBACK_BYTES`].
    pub fn encrypt(&self, msg: &str, random: [u8; 16]) -> Result<String, CryptoError> {
        let len = u32::try_from(msg.len()).map_err(|_| CryptoError::TooLarge)?;
        let mut plain =
            Vec::with_capacity(HEADER_LEN + msg.len() + self.receive_id.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK; // 1..=32, a full block when aligned
        plain.resize(plain.len() + pad, pad as u8);
        let cipher = Aes256CbcEnc::new_from_slices(&self.key, &self.key[..16])
            .map_err(|_| CryptoError::BadKey)?
            .encrypt_padded_vec_mut::<NoPadding>(&plain);
        let out = STANDARD.encode(cipher);
        if out.len() > MAX_CALLBACK_BYTES {
            return Err(CryptoError::TooLarge);
        }
        Ok(out)
    }

    /// [`encrypt`](Self::encrypt) with fresh random bytes.
    ///
    /// # Errors
    ///
    /// As [`encrypt`](Self::encrypt).
    pub fn encrypt_fresh(&self, msg: &str) -> Result<String, CryptoError> {
        self.encrypt(msg, rand::random())
    }

    /// The URL check (`GET` on the callback URL): verifies `msg_signature` over the encrypted
    /// `echostr`, decrypts it and returns the plaintext to answer with (as the plain body).
    ///
    /// Checks the signature only, not freshness: the caller should also refuse a stale
    /// `timestamp`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Missing`] for an empty parameter, [`CryptoError::BadSignature`], then
    /// the errors of [`decrypt`](Self::decrypt).
    pub fn verify_url(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &str,
    ) -> Result<String, CryptoError> {
        require("msg_signature", msg_signature)?;
        require("timestamp", timestamp)?;
        require("nonce", nonce)?;
        require("echostr", echostr)?;
        if !self.verify_signature(msg_signature, timestamp, nonce, echostr) {
            return Err(CryptoError::BadSignature);
        }
        self.decrypt(echostr)
    }

    /// A `POST`ed callback: reads `Encrypt` from the envelope
    /// `<xml><ToUserName/><Encrypt/><AgentID/></xml>`, verifies `msg_signature` over it,
    /// decrypts it and returns the inner XML (read it with [`SuiteEvent::parse`]).
    ///
    /// # Errors
    ///
    /// [`CryptoError::BadXml`] / [`CryptoError::Missing`] for a body that is not the envelope,
    /// [`CryptoError::BadSignature`], then the errors of [`decrypt`](Self::decrypt).
    pub fn open_post(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<String, CryptoError> {
        require("msg_signature", msg_signature)?;
        require("timestamp", timestamp)?;
        require("nonce", nonce)?;
        if body.len() > MAX_CALLBACK_BYTES {
            return Err(CryptoError::TooLarge);
        }
        let envelope: Envelope = quick_xml::de::from_str(body).map_err(|_| CryptoError::BadXml)?;
        let encrypt = envelope
            .encrypt
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .ok_or(CryptoError::Missing("Encrypt"))?;
        if !self.verify_signature(msg_signature, timestamp, nonce, &encrypt) {
            return Err(CryptoError::BadSignature);
        }
        self.decrypt(&encrypt)
    }
}

fn require(name: &'static str, value: &str) -> Result<(), CryptoError> {
    if value.trim().is_empty() {
        Err(CryptoError::Missing(name))
    } else {
        Ok(())
    }
}

/// The outer XML of a `POST`ed callback.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Encrypt", default)]
    encrypt: Option<String>,
}

/// Decodes an EncodingAESKey into the 32-byte AES key.
fn aes_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    if encoding_aes_key.len() != ENCODING_AES_KEY_LEN
        || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(CryptoError::BadKey);
    }
    let bytes = LENIENT
        .decode(format!("{encoding_aes_key}="))
        .map_err(|_| CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

/// Decrypts `sealed` and splits the layout.
fn open(key: &[u8; 32], sealed: &[u8]) -> Result<Decrypted, CryptoError> {
    if sealed.is_empty() || !sealed.len().is_multiple_of(16) {
        return Err(CryptoError::BadLength);
    }
    let plain = Aes256CbcDec::new_from_slices(key, &key[..16])
        .map_err(|_| CryptoError::BadKey)?
        .decrypt_padded_vec_mut::<NoPadding>(sealed)
        .map_err(|_| CryptoError::BadLength)?;
    let pad = usize::from(*plain.last().ok_or(CryptoError::BadLength)?);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::BadPadding);
    }
    let rest = body.get(16..).ok_or(CryptoError::BadLength)?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(CryptoError::BadLength)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| CryptoError::BadLength)?;
    if len > rest.len() {
        return Err(CryptoError::BadLength);
    }
    let (msg, receive_id) = rest.split_at(len);
    Ok(Decrypted {
        message: String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::BadUtf8)?,
        receive_id: String::from_utf8(receive_id.to_vec()).map_err(|_| CryptoError::BadUtf8)?,
    })
}

/// An event of a third-party app's command callback (指令回调), decrypted.
///
/// `Debug` never shows the ticket or the auth code.
///
/// ```
/// use wecom_client::SuiteEvent;
///
/// let xml = "<xml><SuiteId><![CDATA[wwSUITE]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType>\
///            <TimeStamp>1403610513</TimeStamp><SuiteTicket><![CDATA[asdfasfdasdfasdf]]></SuiteTicket></xml>";
/// match SuiteEvent::parse(xml)? {
///     SuiteEvent::SuiteTicket { suite_id, ticket, timestamp } => {
///         assert_eq!((suite_id.as_str(), timestamp), ("wwSUITE", 1403610513));
///         assert_eq!(ticket.expose(), "asdfasfdasdfasdf");
///     }
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), wecom_client::CryptoError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SuiteEvent {
    /// `InfoType` `suite_ticket`: the newest ticket (pushed every 10 minutes, valid 30).
    SuiteTicket {
        /// The SuiteID it is for.
        suite_id: String,
        /// The ticket for `service/get_suite_token`.
        ticket: Secret,
        /// WeCom's `TimeStamp` (Unix seconds): keep the newest ticket.
        timestamp: u64,
    },
    /// `InfoType` `create_auth`: a corp installed the app.
    CreateAuth {
        /// The SuiteID.
        suite_id: String,
        /// The temporary auth code for `service/get_permanent_code`.
        auth_code: Secret,
        /// WeCom's `TimeStamp`.
        timestamp: u64,
    },
    /// `InfoType` `change_auth`: a corp changed the app's authorization.
    ChangeAuth {
        /// The SuiteID.
        suite_id: String,
        /// The corp.
        auth_corp_id: String,
        /// WeCom's `TimeStamp`.
        timestamp: u64,
    },
    /// `InfoType` `cancel_auth`: a corp removed the app.
    CancelAuth {
        /// The SuiteID.
        suite_id: String,
        /// The corp.
        auth_corp_id: String,
        /// WeCom's `TimeStamp`.
        timestamp: u64,
    },
    /// Any other `InfoType` (contact changes, …): acknowledge it with `success`.
    Other {
        /// The SuiteID.
        suite_id: String,
        /// The `InfoType`.
        info_type: String,
        /// WeCom's `TimeStamp` (0 when absent).
        timestamp: u64,
    },
}

/// The decrypted XML of a command callback.
#[derive(Deserialize)]
struct RawSuiteEvent {
    #[serde(rename = "SuiteId", default)]
    suite_id: String,
    #[serde(rename = "InfoType", default)]
    info_type: String,
    #[serde(rename = "TimeStamp", default)]
    timestamp: String,
    #[serde(rename = "SuiteTicket", default)]
    suite_ticket: String,
    #[serde(rename = "AuthCode", default)]
    auth_code: String,
    #[serde(rename = "AuthCorpId", default)]
    auth_corp_id: String,
}

impl SuiteEvent {
    /// Reads a decrypted command-callback message.
    ///
    /// # Errors
    ///
    /// [`CryptoError::BadXml`] for anything but WeCom's XML, [`CryptoError::Missing`] when
    /// `SuiteId`, `InfoType` or the field an event needs (`SuiteTicket`, `AuthCode`,
    /// `AuthCorpId`, a numeric `TimeStamp`) is absent or empty.
    pub fn parse(xml: &str) -> Result<Self, CryptoError> {
        if xml.len() > MAX_CALLBACK_BYTES {
            return Err(CryptoError::TooLarge);
        }
        let raw: RawSuiteEvent = quick_xml::de::from_str(xml).map_err(|_| CryptoError::BadXml)?;
        let field = |name: &'static str, value: String| {
            let value = value.trim().to_owned();
            if value.is_empty() {
                Err(CryptoError::Missing(name))
            } else {
                Ok(value)
            }
        };
        let suite_id = field("SuiteId", raw.suite_id)?;
        let info_type = field("InfoType", raw.info_type)?;
        let timestamp = raw.timestamp.trim().parse::<u64>().ok();
        let stamp = || timestamp.ok_or(CryptoError::Missing("TimeStamp"));
        Ok(match info_type.as_str() {
            "suite_ticket" => Self::SuiteTicket {
                suite_id,
                ticket: Secret::new(field("SuiteTicket", raw.suite_ticket)?),
                timestamp: stamp()?,
            },
            "create_auth" => Self::CreateAuth {
                suite_id,
                auth_code: Secret::new(field("AuthCode", raw.auth_code)?),
                timestamp: stamp()?,
            },
            "change_auth" => Self::ChangeAuth {
                suite_id,
                auth_corp_id: field("AuthCorpId", raw.auth_corp_id)?,
                timestamp: stamp()?,
            },
            "cancel_auth" => Self::CancelAuth {
                suite_id,
                auth_corp_id: field("AuthCorpId", raw.auth_corp_id)?,
                timestamp: stamp()?,
            },
            _ => Self::Other {
                suite_id,
                info_type,
                timestamp: timestamp.unwrap_or(0),
            },
        })
    }

    /// The SuiteID the event is for.
    pub fn suite_id(&self) -> &str {
        match self {
            Self::SuiteTicket { suite_id, .. }
            | Self::CreateAuth { suite_id, .. }
            | Self::ChangeAuth { suite_id, .. }
            | Self::CancelAuth { suite_id, .. }
            | Self::Other { suite_id, .. } => suite_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Protocol §7.4: the self-generated vector (it reproduces wechatpy's published WeCom
    // vector); WXBizMsgCrypt is the same algorithm, the appid playing the ReceiveId.
    const TOKEN: &str = "mocktoken";
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const RECEIVE_ID: &str = "wx0000000000000001";
    const MSG: &str = "<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName><FromUserName><![CDATA[oMOCKopenid0000000000000001]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_login_abc123]]></EventKey><Ticket><![CDATA[TICKETVALUE]]></Ticket></xml>";
    const ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDI8ESvIh6GlJlvJvJI+u3zNXPc8LEaBeg0XCY14ZyhmFCtoDmoVbtM7pxJSNJZib4121LuvUFR+0N9vlDcLlhmathBaMia00ZJrJJeE/GMo4iwvH9d6EWtM0eKEl7q2xqhLTDW/59UDOSW9z4NW3QHc3QIU/8oUSikiSzLW6yw85+HwbikXc6gJthk/s/M+5fIwMlxHgq2dxK9SqocKpl2nNemp4ROjav719YqMn5+7UB4zpmFHooGbvfk6whBzr863dzRcf0shl+Ra65lm+eI0/mBpSDPNULPp5CWth/KF73kADeCMaRiX1pa7ftynMLcQXjE6gX6uB6R3AaCt82v7zEBFqTDBiKRQOM8JoV5CbOEkpIPRnAzuo5RpRXIm+uU3mUdD9qcfOIHHpotcgv2FgWQNzFK02sfV7ZjtbStNRW0VfdWqH333QPtkTSGC5Em0RdvGuDl9clOwp803CnENyj5EzjtP5dJ89tiF/BTyP";
    const MSG_SIGNATURE: &str = "352bd5aed7ce5cfe349e956946afa43131b7fd3a";

    fn vector() -> WecomCrypto {
        WecomCrypto::new(TOKEN, KEY, RECEIVE_ID).unwrap()
    }

    #[test]
    fn key_and_iv_match_the_vector() {
        let key = aes_key(KEY).unwrap();
        assert_eq!(
            hex::encode(key),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        // A real-looking key with non-zero trailing bits decodes (lenient base64).
        assert!(aes_key("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").is_ok());
        for bad in [
            "",
            "short",
            &"A".repeat(44),
            "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a+",
        ] {
            assert_eq!(aes_key(bad), Err(CryptoError::BadKey), "{bad}");
        }
    }

    #[test]
    fn encrypt_signature_and_decrypt_reproduce_the_vector() {
        let c = vector();
        assert_eq!(c.encrypt(MSG, *b"0123456789abcdef").unwrap(), ENCRYPT);
        assert_eq!(
            c.signature("1700000000", "123456789", ENCRYPT),
            MSG_SIGNATURE
        );
        assert!(c.verify_signature(
            &MSG_SIGNATURE.to_uppercase(),
            "1700000000",
            "123456789",
            ENCRYPT
        ));
        assert!(!c.verify_signature(MSG_SIGNATURE, "1700000001", "123456789", ENCRYPT));
        assert_eq!(c.decrypt(ENCRYPT).unwrap(), MSG);
        // As the URL check would see it (echostr = the ciphertext).
        assert_eq!(
            c.verify_url(MSG_SIGNATURE, "1700000000", "123456789", ENCRYPT)
                .unwrap(),
            MSG
        );
        // The reply vector of §7.4.
        let reply = "<xml><ToUserName><![CDATA[oMOCKopenid0000000000000001]]></ToUserName><FromUserName><![CDATA[gh_000000000001]]></FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>";
        let sealed = c.encrypt(reply, *b"fedcba9876543210").unwrap();
        assert!(sealed.starts_with("DpQeJfnf/MGZ/+GTIspwVNGiqjvXsIWWUiDXZtuw"));
        assert_eq!(
            c.signature("1700000001", "987654321", &sealed),
            "308e2dfa85c0c990316e58c90f8d4ac3004b084e"
        );
    }

    #[test]
    fn official_vector_of_15_3_decrypts() {
        let c = WecomCrypto::new("AAAAA", &"A".repeat(43), "wxba5fad812f8e6fb9").unwrap();
        let encrypt = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
        assert_eq!(
            c.signature("1714112445", "415670741", encrypt),
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
        );
        let msg = c.decrypt(encrypt).unwrap();
        assert!(msg.contains(r#""debug_str":"hello world""#), "{msg}");
    }

    #[test]
    fn round_trips_across_every_padding_length() {
        let c = WecomCrypto::new("t", KEY, "wwSUITE").unwrap();
        // 20 header + 7 receive id + n: n = 5 is block-aligned (a full block of 0x20 padding).
        for n in 0..=70 {
            let msg = "x".repeat(n);
            let sealed = c.encrypt(&msg, [n as u8; 16]).unwrap();
            let bytes = STANDARD.decode(&sealed).unwrap();
            assert_eq!(bytes.len() % PAD_BLOCK, 0, "{n}");
            assert!(bytes.len() > HEADER_LEN + 7 + n, "{n}");
            assert_eq!(c.decrypt(&sealed).unwrap(), msg, "{n}");
        }
        let aligned = STANDARD
            .decode(c.encrypt("12345", [0; 16]).unwrap())
            .unwrap();
        assert_eq!(aligned.len(), 64);
    }

    #[test]
    fn receive_id_is_checked() {
        let other = WecomCrypto::new(TOKEN, KEY, "wwSUITE").unwrap();
        assert_eq!(other.decrypt(ENCRYPT), Err(CryptoError::ReceiveIdMismatch));
        let any = other.decrypt_any(ENCRYPT).unwrap();
        assert_eq!(any.receive_id, RECEIVE_ID);
        assert_eq!(any.message, MSG);
        assert!(!format!("{any:?}").contains("TICKETVALUE"));
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let c = vector();
        assert_eq!(c.decrypt("not base64!"), Err(CryptoError::BadBase64));
        assert_eq!(c.decrypt(""), Err(CryptoError::BadLength));
        assert_eq!(c.decrypt("QUJD"), Err(CryptoError::BadLength));
        // A wrong key: the padding (or the layout) gives it away.
        let wrong = WecomCrypto::new(TOKEN, &"B".repeat(43), RECEIVE_ID).unwrap();
        assert!(matches!(
            wrong.decrypt(ENCRYPT),
            Err(CryptoError::BadPadding | CryptoError::BadLength)
        ));
        assert_eq!(
            c.verify_url("00", "1700000000", "123456789", ENCRYPT),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            c.verify_url(MSG_SIGNATURE, "", "1", ENCRYPT),
            Err(CryptoError::Missing("timestamp"))
        );
        assert_eq!(
            WecomCrypto::new("", KEY, "x").unwrap_err(),
            CryptoError::Missing("token")
        );
        // Every truncation and bit flip of a valid ciphertext is refused without a panic.
        let bytes = STANDARD.decode(ENCRYPT).unwrap();
        for cut in (0..bytes.len()).step_by(7) {
            let _ = c.decrypt(&STANDARD.encode(&bytes[..cut]));
        }
        for i in (0..bytes.len()).step_by(5) {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x80;
            assert_ne!(
                c.decrypt(&STANDARD.encode(&flipped)),
                Ok(MSG.to_owned()),
                "{i}"
            );
        }
        assert!(!format!("{c:?}").contains(TOKEN));
    }

    #[test]
    fn posted_command_callback_round_trip() {
        let c = WecomCrypto::new("suitetoken", KEY, "wwSUITE").unwrap();
        let inner = "<xml><SuiteId><![CDATA[wwSUITE]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>1403610513</TimeStamp><SuiteTicket><![CDATA[TICKET-1]]></SuiteTicket></xml>";
        let encrypt = c.encrypt_fresh(inner).unwrap();
        let body = format!(
            "<xml><ToUserName><![CDATA[wwSUITE]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        );
        let sig = c.signature("1403610513", "n1", &encrypt);
        let xml = c.open_post(&sig, "1403610513", "n1", &body).unwrap();
        assert_eq!(xml, inner);
        let event = SuiteEvent::parse(&xml).unwrap();
        assert_eq!(event.suite_id(), "wwSUITE");
        assert!(
            matches!(event, SuiteEvent::SuiteTicket { timestamp: 1403610513, ref ticket, .. } if ticket.expose() == "TICKET-1")
        );
        assert!(!format!("{event:?}").contains("TICKET-1"));
        assert_eq!(
            c.open_post(&sig, "1403610514", "n1", &body),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            c.open_post(&sig, "1", "n1", "<xml><ToUserName>x</ToUserName></xml>"),
            Err(CryptoError::Missing("Encrypt"))
        );
        assert_eq!(
            c.open_post(&sig, "1", "n1", "not xml <"),
            Err(CryptoError::BadXml)
        );
    }

    #[test]
    fn authorization_events_and_missing_fields() {
        let ev = |info: &str, extra: &str| {
            SuiteEvent::parse(&format!(
                "<xml><SuiteId><![CDATA[wwS]]></SuiteId><InfoType><![CDATA[{info}]]></InfoType><TimeStamp>1403610513</TimeStamp>{extra}</xml>"
            ))
        };
        assert!(matches!(
            ev("create_auth", "<AuthCode><![CDATA[AUTHCODE]]></AuthCode><State><![CDATA[s]]></State>").unwrap(),
            SuiteEvent::CreateAuth { ref auth_code, .. } if auth_code.expose() == "AUTHCODE"
        ));
        assert_eq!(
            ev("change_auth", "<AuthCorpId><![CDATA[wxCORP]]></AuthCorpId>").unwrap(),
            SuiteEvent::ChangeAuth {
                suite_id: "wwS".into(),
                auth_corp_id: "wxCORP".into(),
                timestamp: 1403610513
            }
        );
        assert!(matches!(
            ev("cancel_auth", "<AuthCorpId>wxCORP</AuthCorpId>").unwrap(),
            SuiteEvent::CancelAuth { .. }
        ));
        assert!(matches!(
            ev("change_contact", "").unwrap(),
            SuiteEvent::Other { ref info_type, .. } if info_type == "change_contact"
        ));
        assert_eq!(
            ev("suite_ticket", ""),
            Err(CryptoError::Missing("SuiteTicket"))
        );
        assert_eq!(ev("create_auth", ""), Err(CryptoError::Missing("AuthCode")));
        assert_eq!(
            SuiteEvent::parse("<xml><InfoType>suite_ticket</InfoType></xml>"),
            Err(CryptoError::Missing("SuiteId"))
        );
        assert_eq!(
            SuiteEvent::parse(
                "<xml><SuiteId>s</SuiteId><InfoType>suite_ticket</InfoType><SuiteTicket>t</SuiteTicket><TimeStamp>soon</TimeStamp></xml>"
            ),
            Err(CryptoError::Missing("TimeStamp"))
        );
        assert_eq!(SuiteEvent::parse("{}"), Err(CryptoError::BadXml));
    }
}
