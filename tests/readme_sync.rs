//! `README.zh-CN.md` is the whole README in Chinese: both files must name the same endpoints
//! (`/auth/wechat/…`, `/mock/…`), the same `WECHAT_*` variables and the same `cargo …`
//! commands, and link each other; the crate docs link the Chinese one. When a section is added
//! to one README, this test says exactly what the other one lacks.

use std::collections::BTreeSet;

const EN: &str = include_str!("../README.md");
const ZH: &str = include_str!("../README.zh-CN.md");

/// The cargo subcommands a README may tell people to run.
const SUBCOMMANDS: [&str; 10] = [
    "run", "test", "bench", "build", "package", "doc", "clippy", "fmt", "add", "publish",
];

/// Every path under `prefix` the text names, as written (query strings cut off).
fn paths(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .filter_map(|(i, _)| {
            let path: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/_{}.-".contains(*c))
                .collect();
            let path = path.trim_end_matches(['.', '/', '-']);
            (path.len() > prefix.len()).then(|| path.to_owned())
        })
        .collect()
}

/// Every `WECHAT_*` variable the text names.
fn variables(text: &str) -> BTreeSet<String> {
    text.match_indices("WECHAT_")
        .filter_map(|(i, _)| {
            let var: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let var = var.trim_end_matches('_');
            (var.len() > "WECHAT".len()).then(|| var.to_owned())
        })
        .collect()
}

/// Every `cargo <subcommand> …` command the text names: the rest of its line up to a
/// backtick, a comment, a shell operator or prose.
fn commands(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        for (i, _) in line.match_indices("cargo ") {
            if i > 0 && !line[..i].ends_with([' ', '`', '(', '（', '：', ':']) {
                continue; // e.g. `wechat-auth-cargo …`
            }
            let rest: String = line[i..]
                .chars()
                .take_while(|c| c.is_ascii() && !"`#&|;(),\"".contains(*c))
                .collect();
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.len() >= 2 && SUBCOMMANDS.contains(&words[1]) {
                found.insert(words.join(" "));
            }
        }
    }
    found
}

/// Finds one kind of name in a text.
type Extract = fn(&str) -> BTreeSet<String>;

/// What `a` names that `b` lacks, per kind, as lines of a failure message.
fn lacks(a: &str, a_name: &str, b: &str, b_name: &str) -> Vec<String> {
    let kinds: [(&str, Extract); 4] = [
        ("endpoints", |t| paths(t, "/auth/wechat/")),
        ("mock endpoints", |t| paths(t, "/mock/")),
        ("WECHAT_* variables", variables),
        ("cargo commands", commands),
    ];
    kinds
        .iter()
        .filter_map(|(kind, extract)| {
            let missing: Vec<String> = extract(a).difference(&extract(b)).cloned().collect();
            (!missing.is_empty()).then(|| {
                format!(
                    "{b_name} lacks {kind} that {a_name} names: {}",
                    missing.join(", ")
                )
            })
        })
        .collect()
}

#[test]
fn both_readmes_name_the_same_endpoints_variables_and_commands() {
    let mut problems = lacks(EN, "README.md", ZH, "README.zh-CN.md");
    problems.extend(lacks(ZH, "README.zh-CN.md", EN, "README.md"));
    assert!(
        problems.is_empty(),
        "the two READMEs are out of step (add the missing items, translated, to the other \
         file):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_readmes_link_each_other_and_the_crate_docs_link_the_chinese_one() {
    assert!(
        EN.contains("(README.zh-CN.md)"),
        "README.md must link README.zh-CN.md"
    );
    assert!(
        ZH.contains("(README.md)"),
        "README.zh-CN.md must link README.md"
    );
    let lib = include_str!("../src/lib.rs");
    assert!(
        lib.contains("README.zh-CN.md"),
        "the crate docs (src/lib.rs) must link README.zh-CN.md"
    );
    // The package ships the file the crate docs link to.
    let manifest = include_str!("../Cargo.toml");
    assert!(manifest.contains("\"/README.zh-CN.md\""));
}

#[test]
fn the_extractors_find_what_they_should() {
    let text = "Run `cargo run --example demo` (or `PORT=1 cargo test --all-features  # x`);\n\
                `GET /auth/wechat/scan/{id}/qr.svg`, `POST /auth/wechat/login?return_to=/`,\n\
                `GET /mock/config`, `WECHAT_MOBILE_APP_ID and _SECRET`, `WECHAT_*`, the cargo \
                feature `redis`.";
    assert_eq!(
        paths(text, "/auth/wechat/"),
        BTreeSet::from([
            "/auth/wechat/scan/{id}/qr.svg".to_owned(),
            "/auth/wechat/login".to_owned()
        ])
    );
    assert_eq!(
        paths(text, "/mock/"),
        BTreeSet::from(["/mock/config".to_owned()])
    );
    assert_eq!(
        variables(text),
        BTreeSet::from(["WECHAT_MOBILE_APP_ID".to_owned()])
    );
    assert_eq!(
        commands(text),
        BTreeSet::from([
            "cargo run --example demo".to_owned(),
            "cargo test --all-features".to_owned()
        ])
    );
    // A difference is reported with what is missing from which file.
    let report = lacks(text, "A.md", "nothing here", "B.md");
    assert!(
        report.contains(&"B.md lacks cargo commands that A.md names: cargo run --example demo, cargo test --all-features".to_owned()),
        "{report:?}"
    );
}
