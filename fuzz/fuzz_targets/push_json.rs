//! The push reader's JSON entry point (the console's 数据格式 = JSON, protocol addendum §15)
//! on arbitrary text: `PushMessage::parse_json` directly, and the same text as the document
//! inside a validly signed safe-mode JSON push through `PushCrypto::open` (so what WeChat's
//! decryption would hand over is read too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_auth::push::{MAX_BODY_BYTES, PushCrypto, PushFormat, PushMessage, PushQuery};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let direct = PushMessage::parse_json(json);
    // The two entry points agree.
    assert_eq!(
        direct.is_ok(),
        PushMessage::parse_as(PushFormat::Json, json).is_ok()
    );
    if let Ok(msg) = &direct {
        // What parses has what a push must have, and gives consistent answers.
        assert!(!msg.to_user_name.is_empty() || msg.encrypt.is_some());
        let _ = msg.scan_scene();
        let _ = msg.dedupe_key();
        let _ = msg.is_event();
    }
    let _ = PushFormat::sniff(Some("application/json"), data);

    // The same text sealed in a safe-mode push: the reader sees it after decryption.
    let crypto = PushCrypto::new("fuzztoken", Some(KEY), "wx0000000000000001").unwrap();
    let Ok(sealed) = crypto.encrypt(json, [7; 16]) else {
        return;
    };
    let (ts, nonce) = ("1700000000", "42");
    let query = PushQuery::parse(&format!(
        "signature={}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={}",
        crypto.signature(ts, nonce),
        crypto.msg_signature(ts, nonce, &sealed)
    ));
    let body =
        serde_json::json!({ "ToUserName": "gh_000000000001", "Encrypt": sealed }).to_string();
    let opened = crypto.open(&query, PushFormat::Json, &body);
    // Sealed or not, the document is read the same way (while the envelope fits the bound).
    if body.len() <= MAX_BODY_BYTES {
        assert_eq!(opened.is_ok(), direct.is_ok());
    }
    if let Ok(opened) = opened {
        assert!(opened.encrypted);
        assert_eq!(opened.document, json);
    }
});
