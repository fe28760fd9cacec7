//! WeChat's JSON answers: arbitrary bytes into every public response type the client reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_auth::client::{GlobalToken, MiniSession, OAuthToken, OaUserInfo, QrTicket, UserInfo};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<OAuthToken>(data);
    let _ = serde_json::from_slice::<UserInfo>(data);
    let _ = serde_json::from_slice::<MiniSession>(data);
    let _ = serde_json::from_slice::<GlobalToken>(data);
    let _ = serde_json::from_slice::<QrTicket>(data);
    let _ = serde_json::from_slice::<OaUserInfo>(data);
});
