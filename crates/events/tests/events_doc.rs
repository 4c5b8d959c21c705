//! docs/EVENTS.md is the event catalog as `catalog::markdown()` writes it: this test fails
//! when the two differ, and rewrites the file when `UPDATE_DOCS=1` is set.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use groundwork_events::catalog;

#[test]
fn the_events_doc_is_the_catalog() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/EVENTS.md");
    let wanted = catalog::markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &wanted).unwrap();
        return;
    }
    let found = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        found == wanted,
        "docs/EVENTS.md is not the event catalog of crates/events/src/catalog.rs; regenerate it with\n\
         UPDATE_DOCS=1 cargo test -p groundwork-events --test events_doc"
    );
}
