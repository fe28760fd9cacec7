//! The push reader's XML entry point (`PushMessage::parse`) on arbitrary text. JSON pushes
//! are left for when the push reader reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_auth::push::PushMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data)
        && let Ok(msg) = PushMessage::parse(xml)
    {
        // Whatever parses gives consistent answers.
        let _ = msg.scan_scene();
        let _ = msg.dedupe_key();
        let _ = msg.is_event();
    }
});
