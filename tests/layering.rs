//! The module layering of every crate of the workspace (design §8): no module cycles in
//! any crate, the layering rule of the layer's `src/`, and no other crate depending on the
//! layer.
//!
//! The crates are the `members` of the root `Cargo.toml`'s `[workspace]` (`dir/*` entries
//! expanded, `exclude` honoured), so a crate a later split adds is checked without an edit
//! here; each crate's library is read from `<member>/src/`, and a cycle is reported with its
//! crate and the files (`mock/src/state.rs names crate::faults::Fault`) that make it.
//!
//! Std only. Every `.rs` file under a crate's `src/` is a module (`src/a/b.rs` and `src/a/b/mod.rs`
//! are `a::b`, `src/lib.rs` is the root). From each file's code — comments, doc comments,
//! string and char literals removed — the checker collects every path that starts with
//! `crate::` (or `$crate::`), `super::` or `self::`, including whole `use` trees with
//! nested braces, resolves `super`/`self` against the file's module (and any inline
//! `mod x { … }` it is inside), and reduces each path to the deepest module file that
//! exists (`crate::flows::scan::SceneStatus` → `flows::scan`, `crate::flows::FlowError` →
//! `flows`, `crate::Secret` → the root).
//!
//! Cycles are looked for at every level of the module tree: among the children of one
//! parent (the root's children are the top-level modules), child X depends on child Y
//! when some module in X's subtree names some module in Y's subtree. A module naming its
//! own ancestors or descendants adds nothing: `flows/mod.rs` dispatching to `flows/scan.rs`
//! while `flows/scan.rs` uses `super::FlowError` is fine. Strongly connected components of
//! each sibling graph (Tarjan) are the cycles; any cycle between files whose modules are
//! not ancestor and descendant shows up at the level of their deepest common ancestor, so
//! `auth → flows` plus `flows::scan → auth` is the cycle `auth → flows → auth`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

/// A module path, `[]` for the crate root.
type ModPath = Vec<String>;

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
}

/// The module of a file, from its path relative to `src/` (`/`-separated).
fn module_of(rel: &str) -> ModPath {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: ModPath = stem.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["lib"] || parts == ["main"] {
        parts.pop();
    }
    parts
}

/// The source with comments (line, nested block, doc) and string, byte-string, raw-string
/// and char literals blanked to spaces; newlines are kept. Lifetimes stay.
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
                out.push(' ');
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if let Some((quote, hashes)) = raw_string_at(&c, i).filter(|_| !ident_before) {
            // r"…", r#"…"#, br"…", cr#"…"#
            let mut k = quote + 1;
            while k < c.len() {
                if c[k] == '"' && (1..=hashes).all(|h| at(k + h) == '#') {
                    k += 1 + hashes;
                    break;
                }
                k += 1;
            }
            for &ch in &c[i..k.min(c.len())] {
                blank(&mut out, ch);
            }
            i = k;
        } else if at(i) == '"' || (!ident_before && matches!(at(i), 'b' | 'c') && at(i + 1) == '"')
        {
            let mut k = if at(i) == '"' { i + 1 } else { i + 2 };
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            for &ch in &c[i..(k + 1).min(c.len())] {
                blank(&mut out, ch);
            }
            i = k + 1;
        } else if at(i) == '\'' && (at(i + 1) == '\\' || (at(i + 2) == '\'' && at(i + 1) != '\'')) {
            // A char literal ('x', '\n', '\u{1F600}', '\''); otherwise a lifetime or label.
            let mut k = i + 1;
            if at(k) == '\\' {
                k += 2;
                while k < c.len() && c[k] != '\'' {
                    k += 1;
                }
            } else {
                k += 1;
            }
            for &ch in &c[i..(k + 1).min(c.len())] {
                blank(&mut out, ch);
            }
            i = k + 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Where a raw string literal starting at `i` has its opening quote, and its `#` count.
fn raw_string_at(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut k = match (c.get(i), c.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b' | 'c'), Some('r')) => i + 2,
        _ => return None,
    };
    let start = k;
    while c.get(k) == Some(&'#') {
        k += 1;
    }
    (c.get(k) == Some(&'"')).then_some((k, k - start))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Star,
    Dollar,
    Other(char),
}

fn tokenize(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let mut word: String = c[start..i].iter().collect();
            if word == "r" && c.get(i) == Some(&'#') {
                // r#ident
                i += 1;
                let s = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                word = c[s..i].iter().collect();
            }
            toks.push(Tok::Ident(word));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            toks.push(Tok::Other('0'));
        } else {
            toks.push(match ch {
                ':' if c.get(i + 1) == Some(&':') => {
                    i += 1;
                    Tok::PathSep
                }
                '{' => Tok::Open,
                '}' => Tok::Close,
                ',' => Tok::Comma,
                '*' => Tok::Star,
                '$' => Tok::Dollar,
                other => Tok::Other(other),
            });
            i += 1;
        }
    }
    toks
}

fn is_ident(t: Option<&Tok>, word: &str) -> bool {
    matches!(t, Some(Tok::Ident(w)) if w == word)
}

/// A full path and the name a `use` of it would bind (`None` for a glob).
type Spelled = (Vec<String>, Option<String>);

/// Parses the path (tree) starting at `toks[*i]`, right after its first segment, and
/// appends every full path it spells to `out`. `prefix` holds the segments so far.
fn parse_tree(toks: &[Tok], i: &mut usize, prefix: &mut Vec<String>, out: &mut Vec<Spelled>) {
    loop {
        if toks.get(*i) != Some(&Tok::PathSep) {
            let mut binds = prefix.last().cloned();
            if is_ident(toks.get(*i), "as") {
                if let Some(Tok::Ident(alias)) = toks.get(*i + 1) {
                    binds = Some(alias.clone());
                }
                *i += 2;
            }
            out.push((prefix.clone(), binds));
            return;
        }
        *i += 1;
        match toks.get(*i) {
            Some(Tok::Ident(seg)) => {
                prefix.push(seg.clone());
                *i += 1;
            }
            Some(Tok::Star) => {
                *i += 1;
                out.push((prefix.clone(), None));
                return;
            }
            Some(Tok::Open) => {
                *i += 1;
                let depth = prefix.len();
                loop {
                    match toks.get(*i) {
                        None => return,
                        Some(Tok::Close) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Comma) => *i += 1,
                        Some(Tok::Star) => {
                            *i += 1;
                            out.push((prefix.clone(), None));
                        }
                        Some(Tok::Ident(seg)) => {
                            let mut sub = prefix.clone();
                            if seg != "self" {
                                sub.push(seg.clone());
                            }
                            *i += 1;
                            parse_tree(toks, i, &mut sub, out);
                        }
                        Some(_) => *i += 1,
                    }
                    prefix.truncate(depth);
                }
            }
            // `crate::<…>` or garbage: the path ends here.
            _ => {
                out.push((prefix.clone(), prefix.last().cloned()));
                return;
            }
        }
    }
}

/// One path a file names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    /// The absolute path.
    path: Vec<String>,
    /// For a `use` at the file's top level: the name it binds there (a re-export when
    /// others name it through this module). `None` for globs and everything else.
    binds: Option<String>,
    /// A `use child::…` relative to the file's module: a module path only if `child` is a
    /// module (else it is an extern crate such as `std`).
    relative: bool,
}

/// The absolute module-item paths a file's code names: `crate::…`, `super::…`, `self::…`,
/// and relative `use` trees. `module` is the file's module; inline `mod x { … }` blocks
/// are followed for `super`.
fn named_paths(module: &[String], src: &str) -> Vec<Named> {
    let toks = tokenize(&strip(src));
    let mut out = Vec::new();
    // (name, brace depth at which the inline module's body closes)
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    // Inside a `use` declaration; at the file's top level.
    let mut in_use = false;
    let mut top_use = false;
    let push = |out: &mut Vec<Named>, found: Vec<Spelled>, top: bool, relative: bool| {
        for (path, binds) in found {
            let binds = if top { binds } else { None };
            out.push(Named {
                path,
                binds,
                relative,
            });
        }
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Other(';') => {
                in_use = false;
                i += 1;
            }
            Tok::Ident(w) if w == "use" => {
                in_use = true;
                top_use = depth == 0 && inline.is_empty();
                i += 1;
                if let Some(Tok::Ident(first)) = toks.get(i)
                    && !matches!(first.as_str(), "crate" | "super" | "self")
                {
                    let mut base: ModPath = module.to_vec();
                    base.extend(inline.iter().map(|(n, _)| n.clone()));
                    base.push(first.clone());
                    let mut j = i + 1;
                    let mut found = Vec::new();
                    parse_tree(&toks, &mut j, &mut base, &mut found);
                    push(&mut out, found, top_use, true);
                    i = j;
                }
            }
            Tok::Open => {
                depth += 1;
                i += 1;
            }
            Tok::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Open)) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                    depth += 1;
                    i += 3;
                } else {
                    i += 1;
                }
            }
            Tok::Ident(w)
                if matches!(w.as_str(), "crate" | "super" | "self")
                    && toks.get(i + 1) == Some(&Tok::PathSep)
                    && (i == 0 || toks[i - 1] != Tok::PathSep)
                    // `pub(in crate::x)` is a visibility, not a use.
                    && !(i >= 2 && is_ident(toks.get(i - 1), "in") && toks[i - 2] == Tok::Other('(')) =>
            {
                let mut here: ModPath = module.to_vec();
                here.extend(inline.iter().map(|(n, _)| n.clone()));
                let mut base = if w == "crate" { Vec::new() } else { here };
                let mut j = i;
                if w == "super" {
                    // super::super::… climbs one level each.
                    base.pop();
                    while toks.get(j + 1) == Some(&Tok::PathSep)
                        && is_ident(toks.get(j + 2), "super")
                    {
                        base.pop();
                        j += 2;
                    }
                }
                j += 1;
                let mut found = Vec::new();
                parse_tree(&toks, &mut j, &mut base, &mut found);
                push(&mut out, found, in_use && top_use, false);
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && a == &b[..a.len()]
}

/// One reference between two modules, with where it came from.
#[derive(Debug, Clone)]
struct Ref {
    from: ModPath,
    to: ModPath,
    file: String,
    path: String,
    /// The absolute path as the file spells it, before following re-exports.
    named: ModPath,
}

/// The modules of a source tree and who names whom.
struct Tree {
    modules: BTreeSet<ModPath>,
    refs: Vec<Ref>,
    /// What the root's top-level `pub use`s bind: name → the path it stands for
    /// (`Secret` → `wechat_auth_client::Secret`, `client` → `wechat_auth_client`).
    root_re_exports: BTreeMap<String, Vec<String>>,
}

/// The names a crate root's top-level `pub use` declarations bind, with the path each
/// stands for (relative to the root; an extern crate's path starts with its name).
fn pub_uses(src: &str) -> BTreeMap<String, Vec<String>> {
    let toks = tokenize(&strip(src));
    let mut out = BTreeMap::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Open => depth += 1,
            Tok::Close => depth = depth.saturating_sub(1),
            Tok::Ident(w) if w == "pub" && depth == 0 && is_ident(toks.get(i + 1), "use") => {
                if let Some(Tok::Ident(first)) = toks.get(i + 2) {
                    let mut prefix = if first == "crate" {
                        Vec::new()
                    } else {
                        vec![first.clone()]
                    };
                    let mut j = i + 3;
                    let mut found = Vec::new();
                    parse_tree(&toks, &mut j, &mut prefix, &mut found);
                    for (path, binds) in found {
                        if let Some(name) = binds {
                            out.insert(name, path);
                        }
                    }
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

impl Tree {
    /// From `(path relative to src/, source)` pairs of the root crate.
    fn from_sources<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Tree {
        Tree::from_sources_in("src", files)
    }

    /// From `(path relative to the source directory, source)` pairs; `src_dir` is that
    /// directory relative to the workspace root (`src`, `mock/src`), as reports show it.
    fn from_sources_in<'a>(
        src_dir: &str,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Tree {
        let files: Vec<(&str, &str)> = files.into_iter().collect();
        let modules: BTreeSet<ModPath> = files.iter().map(|(p, _)| module_of(p)).collect();
        let modules_named: Vec<(&str, ModPath, Vec<Named>)> = files
            .iter()
            .map(|(rel, src)| {
                let from = module_of(rel);
                let mut named = named_paths(&from, src);
                // A relative `use` names a module only when it starts with a child module.
                named.retain(|n| !n.relative || modules.contains(&n.path[..=from.len()]));
                (*rel, from, named)
            })
            .collect();
        // What each module's top-level `use`s bind: `(module, name)` → the path it stands for.
        let mut uses: BTreeMap<(ModPath, String), Vec<String>> = BTreeMap::new();
        for (_, from, named) in &modules_named {
            for n in named {
                if let Some(name) = &n.binds {
                    uses.insert((from.clone(), name.clone()), n.path.clone());
                }
            }
        }
        let deepest = |p: &[String]| -> ModPath {
            (0..=p.len())
                .rev()
                .map(|k| p[..k].to_vec())
                .find(|m| modules.contains(m))
                .unwrap_or_default()
        };
        let mut refs = Vec::new();
        for (rel, from, named) in &modules_named {
            for n in named {
                // Follow re-exports (`crate::Secret` is `crate::secret::Secret` when lib.rs
                // says `pub use secret::Secret`), a few hops at most.
                let mut path = n.path.clone();
                for _ in 0..8 {
                    let m = deepest(&path);
                    let Some(target) = path
                        .get(m.len())
                        .and_then(|name| uses.get(&(m.clone(), name.clone())))
                    else {
                        break;
                    };
                    let mut next = target.clone();
                    next.extend_from_slice(&path[m.len() + 1..]);
                    if next == path {
                        break;
                    }
                    path = next;
                }
                let mut shown = format!("crate::{}", n.path.join("::"));
                if path != n.path {
                    let _ = write!(shown, " (= crate::{})", path.join("::"));
                }
                refs.push(Ref {
                    from: from.clone(),
                    to: deepest(&path),
                    file: format!("{src_dir}/{rel}"),
                    path: shown,
                    named: n.path.clone(),
                });
            }
        }
        let root_re_exports = files
            .iter()
            .find(|(p, _)| *p == "lib.rs")
            .map(|(_, src)| pub_uses(src))
            .unwrap_or_default();
        Tree {
            modules,
            refs,
            root_re_exports,
        }
    }

    /// Paths in files other than the root that reach an item through one of the root's
    /// `pub use` re-exports (`crate::Secret`, `crate::WechatUser`) instead of the module
    /// (or crate) that defines it, which hides the real dependency from the checks above.
    /// Re-exported modules (`crate::client`, an extern crate) are not items and are fine.
    fn imports_through_root_re_exports(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for r in &self.refs {
            let Some(name) = r.named.first() else {
                continue;
            };
            if r.from.is_empty() {
                continue;
            }
            let Some(target) = self.root_re_exports.get(name) else {
                continue;
            };
            // A re-exported module: a module of this tree, or an extern crate itself.
            if target.len() < 2 || self.modules.contains(target) {
                continue;
            }
            let real = if self.modules.contains(&target[..1]) {
                format!("crate::{}", target.join("::"))
            } else {
                target.join("::")
            };
            out.insert(format!("{} names crate::{name}: name it {real}", r.file));
        }
        out.into_iter().collect()
    }

    /// Every `.rs` file of the library under `src` (`src_dir` is how reports name it). A
    /// binary beside the library (`src/main.rs` next to `src/lib.rs`, `src/bin/`) is a crate
    /// of its own and is not read.
    fn from_dir(src: &Path, src_dir: &str) -> Tree {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    walk(&p, root, out);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    let rel = p.strip_prefix(root).unwrap();
                    let rel = rel
                        .iter()
                        .map(|s| s.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    out.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        let mut files = Vec::new();
        walk(src, src, &mut files);
        if files.iter().any(|(p, _)| p == "lib.rs") {
            files.retain(|(p, _)| p != "main.rs" && !p.starts_with("bin/"));
        }
        Tree::from_sources_in(src_dir, files.iter().map(|(p, s)| (p.as_str(), s.as_str())))
    }

    /// Every cycle, level by level, as readable text; empty when there is none.
    fn cycles(&self) -> Vec<String> {
        let mut report = Vec::new();
        for parent in &self.modules {
            // The children of `parent` (modules one level below), as the nodes.
            let children: Vec<ModPath> = self
                .modules
                .iter()
                .filter(|m| m.len() == parent.len() + 1 && is_prefix(parent, m))
                .cloned()
                .collect();
            if children.len() < 2 {
                continue;
            }
            let child_of = |m: &ModPath| -> Option<usize> {
                if m.len() > parent.len() && is_prefix(parent, m) {
                    children.iter().position(|c| c[..] == m[..=parent.len()])
                } else {
                    None
                }
            };
            let mut edges: BTreeMap<(usize, usize), Vec<&Ref>> = BTreeMap::new();
            for r in &self.refs {
                if let (Some(a), Some(b)) = (child_of(&r.from), child_of(&r.to))
                    && a != b
                {
                    edges.entry((a, b)).or_default().push(r);
                }
            }
            let mut adj = vec![Vec::new(); children.len()];
            for &(a, b) in edges.keys() {
                adj[a].push(b);
            }
            for scc in tarjan(&adj) {
                if scc.len() < 2 {
                    continue;
                }
                let name = |k: usize| show(&children[k]);
                let members: Vec<String> = scc.iter().map(|&k| name(k)).collect();
                let mut text = format!(
                    "cycle among {} modules under `{}`: {}\n",
                    scc.len(),
                    show(parent),
                    members.join(", ")
                );
                let inside: BTreeSet<usize> = scc.iter().copied().collect();
                // One shortest cycle through each edge of the component, without repeats.
                let mut seen = BTreeSet::new();
                for (&(a, b), _) in edges
                    .iter()
                    .filter(|((a, b), _)| inside.contains(a) && inside.contains(b))
                {
                    let mut cycle = shortest_path(&adj, &inside, b, a);
                    cycle.insert(0, a);
                    let min = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap();
                    cycle.rotate_left(min);
                    if seen.insert(cycle.clone()) {
                        let mut names: Vec<String> = cycle.iter().map(|&k| name(k)).collect();
                        names.push(name(cycle[0]));
                        let _ = writeln!(text, "  {}", names.join(" → "));
                    }
                }
                text.push_str("  because:\n");
                for ((a, b), rs) in edges
                    .iter()
                    .filter(|((a, b), _)| inside.contains(a) && inside.contains(b))
                {
                    let _ = writeln!(text, "    {} → {}:", name(*a), name(*b));
                    let mut lines: BTreeSet<String> = BTreeSet::new();
                    for r in rs {
                        lines.insert(format!("{} names {}", r.file, r.path));
                    }
                    for l in lines {
                        let _ = writeln!(text, "      {l}");
                    }
                }
                report.push(text);
            }
        }
        report
    }

    /// References from modules in any of `from` (or below) to modules in any of `to` (or below).
    fn violations(&self, from: &[&str], to: &[&str]) -> Vec<String> {
        let split = |s: &str| -> ModPath { s.split("::").map(str::to_owned).collect() };
        let from: Vec<ModPath> = from.iter().map(|s| split(s)).collect();
        let to: Vec<ModPath> = to.iter().map(|s| split(s)).collect();
        let mut out = BTreeSet::new();
        for r in &self.refs {
            if from.iter().any(|f| is_prefix(f, &r.from))
                && to
                    .iter()
                    .any(|t| is_prefix(t, &r.to) && !is_prefix(t, &r.from))
            {
                out.insert(format!(
                    "{} → {}: {} names {}",
                    show(&r.from),
                    show(&r.to),
                    r.file,
                    r.path
                ));
            }
        }
        out.into_iter().collect()
    }
}

/// Strongly connected components (Tarjan), each sorted.
fn tarjan(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct S<'a> {
        adj: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut S<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        for &w in &s.adj[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            comp.sort_unstable();
            s.out.push(comp);
        }
    }
    let n = adj.len();
    let mut s = S {
        adj,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// The nodes of a shortest path `from` → `to` inside `within`, without `to`'s repeat.
fn shortest_path(
    adj: &[Vec<usize>],
    within: &BTreeSet<usize>,
    from: usize,
    to: usize,
) -> Vec<usize> {
    let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(v) = queue.pop_front() {
        if v == to {
            break;
        }
        for &w in &adj[v] {
            if within.contains(&w) && seen.insert(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut path = vec![to];
    let mut v = to;
    while v != from {
        v = prev[&v];
        path.push(v);
    }
    path.reverse();
    path.pop(); // `to` is the cycle's start, already first
    path
}

// ---- The workspace: every crate it has ----

/// The workspace root: this test belongs to the root package.
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The TOML text with `#` comments blanked (a `#` inside a basic or literal string stays).
fn toml_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut quote = None;
        for ch in line.chars() {
            match (quote, ch) {
                (None, '#') => break,
                (None, '"' | '\'') => quote = Some(ch),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            out.push(ch);
        }
        out.push('\n');
    }
    out
}

/// The lines of a TOML table (`[name]`, header excluded), up to the next table header.
fn toml_table<'a>(code: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("[{name}]");
    code.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .collect()
}

/// The value after `key =` on a TOML line, trimmed.
fn toml_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.trim_start().strip_prefix(key)?.trim_start();
    Some(rest.strip_prefix('=')?.trim())
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned()
}

/// The strings of the array `key = [ … ]` in a table's lines (it may span lines).
fn toml_string_array(table: &[&str], key: &str) -> Vec<String> {
    let Some(at) = table
        .iter()
        .position(|l| toml_value(l, key).is_some_and(|v| v.starts_with('[')))
    else {
        return Vec::new();
    };
    let mut text = toml_value(table[at], key).unwrap_or_default()[1..].to_owned();
    for line in &table[at + 1..] {
        if text.contains(']') {
            break;
        }
        text.push('\n');
        text.push_str(line);
    }
    let body = &text[..text.find(']').unwrap_or(text.len())];
    body.split(',')
        .map(unquote)
        .filter(|item| !item.is_empty())
        .collect()
}

/// The value of `key = "…"` in a table's lines.
fn toml_string(table: &[&str], key: &str) -> Option<String> {
    table.iter().find_map(|l| toml_value(l, key).map(unquote))
}

/// The `"…"` after `package =` in an inline dependency table (`{ path = "..", package = "x" }`).
fn renamed_package(value: &str) -> Option<String> {
    let (_, rest) = value.split_once("package")?;
    let rest = rest
        .trim_start()
        .strip_prefix('=')?
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// The member directories of a workspace manifest, `/`-separated and relative to it, in
/// the order `members` lists them; a `dir/*` entry stands for every directory under `dir`
/// with a `Cargo.toml` (`subdirs(dir)` lists their names), minus `exclude`.
fn workspace_members(manifest: &str, subdirs: impl Fn(&str) -> Vec<String>) -> Vec<String> {
    let code = toml_code(manifest);
    let table = toml_table(&code, "workspace");
    let exclude = toml_string_array(&table, "exclude");
    let mut out = Vec::new();
    for member in toml_string_array(&table, "members") {
        let member = member.trim_end_matches('/').to_owned();
        let found = match member.strip_suffix("/*") {
            Some(dir) => subdirs(dir)
                .into_iter()
                .map(|d| format!("{dir}/{d}"))
                .collect(),
            None => vec![member],
        };
        for m in found {
            if !exclude.contains(&m) && !out.contains(&m) {
                out.push(m);
            }
        }
    }
    out
}

/// One crate of the workspace.
struct Member {
    /// Its directory relative to the workspace root (`.` for the root).
    dir: String,
    /// Its package name.
    name: String,
    /// Its manifest, comments blanked.
    manifest: String,
}

impl Member {
    /// Where its library's sources are, as reports name them (`src`, `mock/src`).
    fn src_dir(&self) -> String {
        if self.dir == "." {
            "src".to_owned()
        } else {
            format!("{}/src", self.dir)
        }
    }

    fn tree(&self) -> Tree {
        Tree::from_dir(&workspace_root().join(self.src_dir()), &self.src_dir())
    }

    /// The package names it depends on, in any dependency table (normal, dev, build,
    /// per target; `[dependencies.name]` tables too), after `package = "…"` renames.
    fn dependencies(&self) -> BTreeSet<String> {
        manifest_dependencies(&self.manifest)
    }
}

/// See [`Member::dependencies`]; `manifest` has its comments blanked.
fn manifest_dependencies(manifest: &str) -> BTreeSet<String> {
    const KINDS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut out = BTreeSet::new();
    // In a table of dependencies; in a `[dependencies.name]` table (its name).
    let mut in_deps = false;
    let mut one_dep: Option<String> = None;
    for line in manifest.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let segs: Vec<String> = h.split('.').map(unquote).collect();
            let kind = segs.iter().position(|s| KINDS.contains(&s.as_str()));
            in_deps = kind.is_some_and(|k| k + 1 == segs.len());
            one_dep = kind
                .filter(|k| k + 2 == segs.len())
                .map(|k| segs[k + 1].clone());
            out.extend(one_dep.clone());
            continue;
        }
        let Some((key, value)) = t.split_once('=') else {
            continue;
        };
        let key = unquote(key);
        if in_deps {
            out.insert(renamed_package(value).unwrap_or(key));
        } else if let Some(dep) = &one_dep
            && key == "package"
        {
            out.remove(dep);
            out.insert(unquote(value));
        }
    }
    out
}

/// Every crate of the workspace, as the root `Cargo.toml` lists them (`members`), read once.
fn workspace_crates() -> Vec<Member> {
    let root = workspace_root();
    let read = |p: &Path| {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    };
    let subdirs = |dir: &str| -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(root.join(dir))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().join("Cargo.toml").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    };
    workspace_members(&read(&root.join("Cargo.toml")), subdirs)
        .into_iter()
        .map(|dir| {
            let manifest = toml_code(&read(&root.join(&dir).join("Cargo.toml")));
            let name = toml_string(&toml_table(&manifest, "package"), "name")
                .unwrap_or_else(|| panic!("{dir}/Cargo.toml has no [package] name"));
            Member {
                dir,
                name,
                manifest,
            }
        })
        .collect()
}

/// The root crate (the layer).
fn src_tree() -> Tree {
    Tree::from_dir(&workspace_root().join("src"), "src")
}

/// Leaf modules (design §8): never name the engine.
const LEAVES: &[&str] = &["user", "push", "metrics"];
/// What a leaf never names: everything built on it.
const ABOVE_LEAVES: &[&str] = &[
    "core",
    "providers",
    "channels",
    "config",
    "extract",
    "handle",
    "layer",
];
/// The providers' services (shared by one provider's channels), and what they never name.
const PROVIDERS: &[&str] = &["providers"];
const ABOVE_PROVIDERS: &[&str] = &["channels", "extract", "handle", "layer"];

/// The provider-neutral core (design §8), and what it never names: a channel, an extractor
/// or the handle.
const CORE: &[&str] = &["core"];
const NOT_FROM_CORE: &[&str] = &[
    "channels",
    "providers",
    "extract",
    "handle",
    "layer",
    "config",
];

/// Every cycle of every crate, with the crate it is in.
fn workspace_cycles(crates: &[Member]) -> String {
    let mut report = String::new();
    for c in crates {
        let cycles = c.tree().cycles();
        if !cycles.is_empty() {
            let _ = writeln!(
                report,
                "crate `{}` ({}/):\n{}",
                c.name,
                c.src_dir(),
                cycles.join("\n")
            );
        }
    }
    report
}

#[test]
fn no_crate_of_the_workspace_has_module_cycles() {
    let report = workspace_cycles(&workspace_crates());
    assert!(report.is_empty(), "module cycles:\n{report}");
}

#[test]
fn no_other_crate_of_the_workspace_depends_on_the_layer() {
    // Design §8: the mock and the providers' clients depend on nothing of the layer.
    let crates = workspace_crates();
    let layer = crates
        .iter()
        .find(|c| c.dir == ".")
        .expect("the root is a member");
    let bad: Vec<String> = crates
        .iter()
        .filter(|c| c.dir != "." && c.dependencies().contains(&layer.name))
        .map(|c| format!("{}/Cargo.toml depends on `{}`", c.dir, layer.name))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_core_never_names_a_channel_an_extractor_or_the_handle() {
    let tree = src_tree();
    for m in ["core", "channels"] {
        assert!(
            tree.modules.contains(&vec![m.to_owned()]),
            "no `{m}` module in src/ yet"
        );
    }
    let bad = tree.violations(CORE, NOT_FROM_CORE);
    assert!(
        bad.is_empty(),
        "layering violations (design §8: the core never names a channel, an extractor or the \
         handle):\n{}",
        bad.join("\n")
    );
}

#[test]
fn src_follows_the_layering_rule() {
    let tree = src_tree();
    for m in ["core", "providers", "channels"] {
        assert!(
            tree.modules.contains(&vec![m.to_owned()]),
            "no `{m}` module in src/"
        );
    }
    let mut bad = tree.violations(LEAVES, ABOVE_LEAVES);
    bad.extend(tree.violations(PROVIDERS, ABOVE_PROVIDERS));
    assert!(
        bad.is_empty(),
        "layering violations (design §8: leaves name nothing above them; a provider's services \
         never name a channel, an extractor, the handle or the layer):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_handle_and_extractors_never_name_a_channel() {
    // Design §8: "the handle (calls services, never channels)"; the extractors read what the
    // layer attached, and neither reaches the channels' transitional engine.
    let tree = src_tree();
    for m in ["handle", "extract", "channels"] {
        assert!(
            tree.modules.contains(&vec![m.to_owned()]),
            "no `{m}` module in src/"
        );
    }
    let bad = tree.violations(&["handle", "extract"], &["channels"]);
    assert!(
        bad.is_empty(),
        "layering violations (design §8: the handle and the extractors call services, never \
         channels):\n{}",
        bad.join("\n")
    );
}

/// The services (design §8: "separate values with private state"): where each is defined.
const SERVICES: &[(&str, &str)] = &[
    ("core/sessions/mod.rs", "Sessions"),
    ("core/guard.rs", "Guard"),
    ("core/exchange.rs", "Exchanges"),
    ("core/login.rs", "Logins"),
    ("core/limit.rs", "StartLimits"),
    ("providers/wechat/code.rs", "CodeLogin"),
    ("providers/wechat/profiles.rs", "Profiles"),
    ("providers/wechat/tokens.rs", "GlobalTokens"),
    ("providers/wechat/mini.rs", "MiniPrograms"),
];

/// The fields of `struct name { … }` in `code` (comments already stripped), one per entry.
fn struct_fields(code: &str, name: &str) -> Option<Vec<String>> {
    let start = code.find(&format!("struct {name} {{"))?;
    let body = &code[start..];
    let open = body.find('{')?;
    let close = body.find("\n}")?;
    Some(
        body[open + 1..close]
            .split(",\n")
            .map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "))
            .map(|f| f.trim_end_matches(',').to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
    )
}

#[test]
fn services_keep_their_state_private() {
    // Channels call a service's methods and never reach its fields: no field of a service
    // is visible outside the module that defines it.
    let root = workspace_root().join("src");
    let mut bad = Vec::new();
    for (file, name) in SERVICES {
        let src = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("read src/{file}: {e}"));
        let fields = struct_fields(&strip(&src), name)
            .unwrap_or_else(|| panic!("no `struct {name}` in src/{file}"));
        assert!(!fields.is_empty(), "{name}: no fields read");
        bad.extend(
            fields
                .iter()
                .filter(|f| f.starts_with("pub ") || f.starts_with("pub("))
                .map(|f| format!("src/{file}: {name} has a visible field `{f}`")),
        );
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_visible_service_field_is_found() {
    let code = "pub(crate) struct Guard {\n    sessions: Arc<Sessions>,\n    pub(crate) public: PublicPaths,\n}\n";
    assert_eq!(
        struct_fields(code, "Guard").unwrap(),
        ["sessions: Arc<Sessions>", "pub(crate) public: PublicPaths"]
    );
}

#[test]
fn the_token_service_names_no_channel() {
    // Issue 24 item 2: the global access tokens are a service of their own (state, client,
    // store, credentials), keyed by AppID; the channels choose the app.
    let tree = src_tree();
    let service: ModPath = ["providers", "wechat", "tokens"]
        .iter()
        .map(|m| (*m).to_owned())
        .collect();
    assert!(
        tree.modules.contains(&service),
        "no providers::wechat::tokens module in src/"
    );
    let above: Vec<ModPath> = ["channels", "extract", "handle", "layer"]
        .iter()
        .map(|m| vec![(*m).to_owned()])
        .collect();
    let bad: Vec<String> = tree
        .refs
        .iter()
        .filter(|r| is_prefix(&service, &r.from))
        .filter(|r| above.iter().any(|a| is_prefix(a, &r.to)))
        .map(|r| format!("{} names {}", r.file, r.path))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn src_imports_items_by_their_module_path_not_through_lib_rs() {
    // Issue 24 item 8: re-exports are for users; inside the crate an item is named by the
    // module (or crate) that defines it, so the checks above see the real dependency.
    let tree = src_tree();
    assert!(
        tree.root_re_exports.contains_key("WechatUser"),
        "lib.rs's re-exports are read: {:?}",
        tree.root_re_exports.keys()
    );
    let bad = tree.imports_through_root_re_exports();
    assert!(
        bad.is_empty(),
        "paths through lib.rs's re-exports (name the defining module instead):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_real_tree_is_read() {
    // The checker sees today's modules and at least the references everyone knows about,
    // so an ignored test above is not silently checking nothing.
    let tree = src_tree();
    assert!(tree.modules.contains(&Vec::new()), "lib.rs is the root");
    assert!(tree.modules.len() > 10, "{:?}", tree.modules);
    assert!(tree.refs.len() > 20);
}

#[test]
fn every_crate_of_the_workspace_is_read() {
    // The members come from the root Cargo.toml: today the layer and the mock, each with a
    // real module tree, and the mock's manifest with its real dependencies.
    let crates = workspace_crates();
    let dirs: Vec<&str> = crates.iter().map(|c| c.dir.as_str()).collect();
    assert!(
        dirs.contains(&".") && dirs.contains(&"mock"),
        "members: {dirs:?}"
    );
    for c in &crates {
        let tree = c.tree();
        assert!(tree.modules.contains(&Vec::new()), "{}: no lib.rs", c.name);
        assert!(tree.modules.len() > 5, "{}: {:?}", c.name, tree.modules);
        assert!(tree.refs.len() > 10, "{}: {} refs", c.name, tree.refs.len());
        assert!(
            tree.refs.iter().all(|r| r.file.starts_with(&c.src_dir())),
            "{}",
            c.name
        );
    }
    let mock = crates.iter().find(|c| c.dir == "mock").unwrap();
    assert_eq!(mock.name, "wechat-auth-mock");
    let deps = mock.dependencies();
    assert!(
        deps.contains("axum") && deps.contains("reqwest") && deps.contains("tokio"),
        "{deps:?}"
    );
    // The WeChat HTTP client (design §8: a provider's client is a crate of its own), which
    // the layer depends on and re-exports.
    let client = crates
        .iter()
        .find(|c| c.dir == "client")
        .unwrap_or_else(|| panic!("no client/ member: {dirs:?}"));
    assert_eq!(client.name, "wechat-auth-client");
    assert!(client.dependencies().contains("reqwest"));
    let layer = crates.iter().find(|c| c.dir == ".").unwrap();
    assert!(layer.dependencies().contains(&client.name));
    assert!(
        !layer.tree().modules.contains(&vec!["client".to_owned()]),
        "src/client/ is back in the layer"
    );
}

// ---- The checker's own tests, on synthetic trees ----

fn m(s: &str) -> ModPath {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split("::").map(str::to_owned).collect()
    }
}

fn paths(module: &str, src: &str) -> BTreeSet<String> {
    named_paths(&m(module), src)
        .iter()
        .filter(|n| !n.relative)
        .map(|n| n.path.join("::"))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn module_paths_come_from_file_paths() {
    assert_eq!(module_of("lib.rs"), m(""));
    assert_eq!(module_of("auth.rs"), m("auth"));
    assert_eq!(module_of("flows/mod.rs"), m("flows"));
    assert_eq!(module_of("flows/scan.rs"), m("flows::scan"));
    assert_eq!(module_of("store/redis/mod.rs"), m("store::redis"));
}

#[test]
fn nested_use_trees_are_parsed() {
    assert_eq!(
        paths("x", "use crate::{a::{b, c}, d};"),
        set(&["a::b", "a::c", "d"])
    );
    assert_eq!(
        paths(
            "x",
            "pub(crate) use crate::{a::{self, b::{C as D, e::*}}, f::G, *};\nfn f() {}"
        ),
        set(&["a", "a::b::C", "a::b::e", "f::G", ""])
    );
    assert_eq!(
        paths("x", "use crate::{\n    a::{b,\n c,},\n    d::{},\n};"),
        set(&["a::b", "a::c"])
    );
}

#[test]
fn paths_in_code_are_found_and_super_resolves_against_the_file() {
    let src = "fn f() -> crate::flows::scan::SceneStatus { crate::auth::Auth::new::<u8>(); super::cookie_value(x) }\n\
               use super::{Query, same_origin};\nuse super::super::top::T;\nuse self::inner::I;\n\
               $crate::mac::m!();";
    assert_eq!(
        paths("flows::scan", src),
        set(&[
            "flows::scan::SceneStatus",
            "auth::Auth::new",
            "flows::cookie_value",
            "flows::Query",
            "flows::same_origin",
            "top::T",
            "flows::scan::inner::I",
            "mac::m",
        ])
    );
    // In flows/mod.rs, `super` is the root.
    assert_eq!(paths("flows", "use super::Secret;"), set(&["Secret"]));
    // An inline `mod tests` makes `super` the file's own module.
    assert_eq!(
        paths(
            "auth",
            "mod tests { use super::*; use super::super::flows::F; }\nuse super::user::U;"
        ),
        set(&["auth", "flows::F", "user::U"])
    );
    // `pub(in crate::a)` is a visibility; `foo::crate` is not a crate path.
    assert_eq!(
        paths("x", "pub(in crate::a) fn f() {} pub(crate) fn g() {}"),
        set(&[])
    );
}

#[test]
fn comments_strings_and_chars_are_ignored() {
    let src = r###"
        // use crate::a::A;
        /// Like [`crate::b::B`].
        //! crate::c
        /* crate::d /* nested crate::e */ still crate::f */
        const S: &str = "crate::g::G \" crate::h";
        const R: &str = r#"crate::i "quoted" crate::j"#;
        const B: &[u8] = b"crate::k";
        const Q: char = '"'; const P: char = '\'';
        fn f<'a>(x: &'a str) -> &'a str { crate::real::R; x }
        const BR: &[u8] = br##"crate::l"##;
    "###;
    assert_eq!(paths("x", src), set(&["real::R"]));
}

fn tree(files: &[(&str, &str)]) -> Tree {
    Tree::from_sources(files.iter().copied())
}

#[test]
fn references_reduce_to_the_deepest_module_file() {
    let t = tree(&[
        ("lib.rs", "mod flows; mod auth; pub use auth::Profile;"),
        ("flows/mod.rs", "mod scan;"),
        ("flows/scan.rs", ""),
        (
            "auth.rs",
            "use crate::flows::scan::SceneStatus; use crate::flows::FlowError; use crate::Secret; use crate::flows::nope::X;",
        ),
    ]);
    let tos: BTreeSet<String> = t
        .refs
        .iter()
        .filter(|r| r.from == m("auth"))
        .map(|r| show(&r.to))
        .collect();
    assert_eq!(tos, set(&["crate", "flows", "flows::scan"]));
}

#[test]
fn a_two_cycle_is_found() {
    let t = tree(&[
        ("lib.rs", "mod a; mod b;"),
        ("a.rs", "use crate::b::B; pub struct A;"),
        ("b.rs", "pub struct B; fn f(_: crate::a::A) {}"),
    ]);
    let cycles = t.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("a → b → a"), "{}", cycles[0]);
    assert!(
        cycles[0].contains("src/b.rs names crate::a::A"),
        "{}",
        cycles[0]
    );
}

#[test]
fn a_three_cycle_is_found() {
    let t = tree(&[
        ("lib.rs", "mod a; mod b; mod c; mod d;"),
        ("a.rs", "use crate::b::B;"),
        ("b.rs", "use crate::{c::C, d::D};"),
        ("c.rs", "fn f() { crate::a::g() }"),
        ("d.rs", ""),
    ]);
    let cycles = t.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("a → b → c → a"), "{}", cycles[0]);
    assert!(
        cycles[0].contains("under `crate`: a, b, c\n"),
        "{}",
        cycles[0]
    );
    assert!(!cycles[0].contains("crate::d::D"), "{}", cycles[0]);
}

#[test]
fn parents_and_children_naming_each_other_is_not_a_cycle() {
    let t = tree(&[
        (
            "lib.rs",
            "mod flows; mod auth; pub use flows::scan::Scan; use crate::flows::FlowError;",
        ),
        ("auth.rs", "pub struct Auth;"),
        (
            "flows/mod.rs",
            "mod scan; mod oauth; pub struct FlowError; fn d() { scan::run(); self::oauth::run(); crate::flows::scan::run() }",
        ),
        (
            "flows/scan.rs",
            "use super::FlowError; use crate::auth::Auth; use crate::flows::oauth::helper;",
        ),
        (
            "flows/oauth.rs",
            "use super::{FlowError, scan}; use crate::Scan;",
        ),
    ]);
    // flows::scan ↔ flows::oauth is a cycle, between siblings.
    let cycles = t.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].contains("under `flows`")
            && cycles[0].contains("flows::oauth → flows::scan → flows::oauth"),
        "{}",
        cycles[0]
    );

    // Without the sibling cycle, nothing is reported.
    let t = tree(&[
        ("lib.rs", "mod flows; mod auth; pub use flows::scan::Scan;"),
        ("auth.rs", "pub struct Auth;"),
        (
            "flows/mod.rs",
            "mod scan; mod oauth; pub struct FlowError; fn d() { scan::run(); crate::flows::oauth::run() }",
        ),
        (
            "flows/scan.rs",
            "use super::FlowError; use crate::auth::Auth;",
        ),
        ("flows/oauth.rs", "use super::{FlowError, scan::S};"),
    ]);
    assert!(t.cycles().is_empty(), "{:?}", t.cycles());
}

#[test]
fn a_module_and_a_sibling_subtree_form_a_cycle() {
    // auth names flows (its mod.rs), every flow names auth: the cycle of issue 10.
    let t = tree(&[
        ("lib.rs", "mod flows; mod auth;"),
        ("auth.rs", "use crate::flows::FlowError;"),
        ("flows/mod.rs", "mod scan; pub struct FlowError;"),
        (
            "flows/scan.rs",
            "use super::FlowError; use crate::auth::Auth;",
        ),
    ]);
    let cycles = t.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("auth → flows → auth"), "{}", cycles[0]);
    assert!(
        cycles[0].contains("src/flows/scan.rs names crate::auth::Auth"),
        "{}",
        cycles[0]
    );
}

#[test]
fn layering_violations_are_found() {
    let t = tree(&[
        ("lib.rs", "mod core; mod channels; mod providers; mod user;"),
        (
            "core/mod.rs",
            "mod guard; mod store; use crate::user::WechatUser;",
        ),
        (
            "core/guard.rs",
            "use crate::channels::Failure; use super::store::Store;",
        ),
        ("core/store.rs", "pub struct Store;"),
        ("channels/mod.rs", "use crate::core::guard::Guard;"),
        ("providers/mod.rs", "use crate::channels::Route;"),
        ("user.rs", "use crate::core::store::Store;"),
    ]);
    assert_eq!(
        t.violations(LEAVES, ABOVE_LEAVES),
        vec!["user → core::store: src/user.rs names crate::core::store::Store".to_owned()]
    );
    assert_eq!(
        t.violations(CORE, NOT_FROM_CORE),
        vec!["core::guard → channels: src/core/guard.rs names crate::channels::Failure".to_owned()]
    );
    assert_eq!(
        t.violations(PROVIDERS, ABOVE_PROVIDERS),
        vec!["providers → channels: src/providers/mod.rs names crate::channels::Route".to_owned()]
    );
}

#[test]
fn re_exports_are_followed_to_the_module_that_defines_the_item() {
    let t = tree(&[
        (
            "lib.rs",
            "mod secret; mod client; mod store; pub use secret::Secret; pub use store::{Store as S, memory::*};",
        ),
        ("secret.rs", "pub struct Secret;"),
        (
            "client/mod.rs",
            "use crate::Secret; fn f(_: crate::S) {} use std::sync::Arc;",
        ),
        (
            "store/mod.rs",
            "mod memory; pub use memory::MemoryStore; pub trait Store {} fn g() { use crate::secret::Secret as Local; }",
        ),
        ("store/memory.rs", "pub struct MemoryStore;"),
        (
            "user.rs",
            "use crate::store::MemoryStore; use crate::store::Local;",
        ),
    ]);
    let from_client: BTreeSet<String> = t
        .refs
        .iter()
        .filter(|r| r.from == m("client"))
        .map(|r| format!("{} {}", show(&r.to), r.path))
        .collect();
    assert_eq!(
        from_client,
        set(&[
            "secret crate::Secret (= crate::secret::Secret)",
            "store crate::S (= crate::store::Store)"
        ])
    );
    let from_user: BTreeSet<String> = t
        .refs
        .iter()
        .filter(|r| r.from == m("user"))
        .map(|r| show(&r.to))
        .collect();
    // A `use` inside a function binds nothing for others.
    assert_eq!(from_user, set(&["store", "store::memory"]));
}

#[test]
fn workspace_members_come_from_the_root_manifest() {
    let manifest = r#"
[workspace]
# members = ["old"]
members = [
    ".",   # the layer
    "mock",
    "crates/*",
]
exclude = ["fuzz", "crates/wip"]
default-members = ["."]

[package]
name = "wechat-auth"
members = ["not-the-workspace"]
"#;
    let subdirs = |dir: &str| -> Vec<String> {
        assert_eq!(dir, "crates");
        vec!["client".to_owned(), "wip".to_owned()]
    };
    assert_eq!(
        workspace_members(manifest, subdirs),
        vec![".", "mock", "crates/client"]
    );
    assert_eq!(
        workspace_members("[workspace]\nmembers = [\".\", \"mock\"]\n", |_| Vec::new()),
        vec![".", "mock"]
    );
    assert!(workspace_members("[package]\nname = \"x\"\n", |_| Vec::new()).is_empty());
}

#[test]
fn dependencies_are_read_from_every_dependency_table() {
    let manifest = toml_code(
        r#"
[package]
name = "wechat-auth-client"
# wechat-auth = "0.1"

[dependencies]
reqwest = { version = "0.13", default-features = false }
layer = { path = "..", package = "wechat-auth" }

[dev-dependencies]
tokio = "1"

[target.'cfg(unix)'.build-dependencies]
cc = "1"

[dependencies.serde]
version = "1"

[dependencies.old]
package = "wechat-auth-mock"
path = "../mock"

[features]
wechat-auth = []
"#,
    );
    assert_eq!(
        manifest_dependencies(&manifest),
        set(&[
            "cc",
            "reqwest",
            "serde",
            "tokio",
            "wechat-auth",
            "wechat-auth-mock"
        ])
    );
}

#[test]
fn cycles_are_reported_per_crate_with_their_files() {
    // The mock's old cycle, in miniature: state holds a fault, the fault middleware reads
    // the state.
    let t = Tree::from_sources_in(
        "mock/src",
        [
            ("lib.rs", "mod faults; mod state;"),
            ("faults.rs", "use super::state::Shared; pub enum Fault {}"),
            ("state.rs", "use super::faults::Fault; pub struct Shared;"),
        ],
    );
    let cycles = t.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].contains("faults → state → faults"),
        "{}",
        cycles[0]
    );
    assert!(
        cycles[0].contains("mock/src/state.rs names crate::faults::Fault")
            && cycles[0].contains("mock/src/faults.rs names crate::state::Shared"),
        "{}",
        cycles[0]
    );
}

#[test]
fn the_core_naming_a_channel_is_found() {
    let t = tree(&[
        (
            "lib.rs",
            "mod core; mod channels; mod extract; pub use channels::scan::ScanChannel;",
        ),
        ("core/mod.rs", "mod guard; mod routes;"),
        ("core/guard.rs", "use crate::ScanChannel;"),
        ("core/routes.rs", "pub struct RouteTable;"),
        ("channels/mod.rs", "mod scan;"),
        (
            "channels/scan.rs",
            "use crate::core::routes::RouteTable; pub struct ScanChannel;",
        ),
        ("extract.rs", "use crate::core::guard::Guard;"),
    ]);
    assert_eq!(
        t.violations(CORE, NOT_FROM_CORE),
        vec![
            "core::guard → channels::scan: src/core/guard.rs names crate::ScanChannel \
             (= crate::channels::scan::ScanChannel)"
                .to_owned()
        ]
    );
}

#[test]
fn paths_through_the_roots_re_exports_are_found() {
    let t = tree(&[
        (
            "lib.rs",
            "mod a; mod b; pub mod m; pub use a::{X, Y as Z}; pub use ext::W; \
             pub use ext as e; pub use m as mm; use a::Hidden;",
        ),
        ("a.rs", "pub struct X; pub struct Y; pub struct Hidden;"),
        ("m.rs", "pub struct M;"),
        (
            "b.rs",
            "use crate::{X, a::Y}; fn f() { crate::Z::new(); let _ = crate::W; } \
             use crate::e::Q; use crate::mm::M; use crate::Hidden; use crate::a::X as _;",
        ),
    ]);
    assert_eq!(
        t.imports_through_root_re_exports(),
        vec![
            "src/b.rs names crate::W: name it ext::W".to_owned(),
            "src/b.rs names crate::X: name it crate::a::X".to_owned(),
            "src/b.rs names crate::Z: name it crate::a::Y".to_owned(),
        ]
    );
}
