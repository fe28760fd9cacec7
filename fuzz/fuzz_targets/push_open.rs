//! A pushed request as WeChat delivers it: an arbitrary query string and body through
//! `PushQuery::parse`, `PushCrypto::verify_get`, `PushCrypto::open_post` and `decrypt`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_auth::push::{PushCrypto, PushQuery};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (query, body) = text.split_once('\n').unwrap_or((&text, ""));
    let q = PushQuery::parse(query);
    for key in [None, Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")] {
        let Ok(c) = PushCrypto::new("fuzztoken", key, "wx0000000000000001") else {
            continue;
        };
        let _ = c.verify_get(&q);
        let _ = c.open_post(&q, body);
        let _ = c.decrypt(body);
    }
    // Arbitrary EncodingAESKeys.
    let _ = PushCrypto::new("t", Some(query), "wx1");
});
