//! The NATS permission table in docs/SECURITY.md is `access::markdown_table()`, between
//! its markers: this test fails when the two differ, and rewrites the table when
//! `UPDATE_DOCS=1` is set.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use groundwork_bus::access;

const START: &str = "<!-- nats-permissions:start (generated: UPDATE_DOCS=1 cargo test -p groundwork-bus --test security_doc) -->\n";
const END: &str = "<!-- nats-permissions:end -->";

#[test]
fn the_security_doc_shows_the_permissions_nats_enforces() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/SECURITY.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (Some(start), Some(end)) = (text.find(START), text.find(END)) else {
        panic!("docs/SECURITY.md has no permission table between its markers");
    };
    let found = &text[start + START.len()..end];
    let wanted = access::markdown_table();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{}{}", &text[..start + START.len()], wanted, &text[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        found == wanted,
        "docs/SECURITY.md's NATS permission table is not crates/bus/src/access.rs; regenerate it with\n\
         UPDATE_DOCS=1 cargo test -p groundwork-bus --test security_doc"
    );
}
