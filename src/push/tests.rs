//! The push protocol against WeChat's published vectors, and hostile input.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockEncryptMut as _, KeyIvInit as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::crypto::{Aes256CbcEnc, PAD_BLOCK, aes_key, reply_envelope};
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
    assert!(a.starts_with("<xml><Encrypt><![CDATA["));
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
    assert!(a.contains("<TimeStamp>1700000001</TimeStamp><Nonce><![CDATA[987654321]]></Nonce>"));
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
fn another_key_cannot_decrypt() {
    let ours = crypto();
    let theirs = PushCrypto::new(
        TOKEN,
        Some("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"),
        APPID,
    )
    .unwrap();
    let sealed = theirs.encrypt(MSG, [4; 16]).unwrap();
    assert!(ours.decrypt(&sealed).is_err());
    assert_eq!(theirs.decrypt(&sealed).unwrap(), MSG);
    let stranger = PushCrypto::new(TOKEN, Some(&"Z".repeat(43)), APPID).unwrap();
    let foreign = stranger.encrypt(MSG, [5; 16]).unwrap();
    assert!(ours.decrypt(&foreign).is_err());
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
