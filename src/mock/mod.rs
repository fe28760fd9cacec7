//! Mock WeChat server (placeholder).
