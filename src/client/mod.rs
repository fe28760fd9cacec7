//! WeChat HTTP API client (placeholder).
