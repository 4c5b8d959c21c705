//! The spec parser never panics: arbitrary text, and the example spec with bytes deleted,
//! replaced or inserted, is either refused with its problems or accepted, and an accepted
//! spec is checked, turned into resources and drawn without panicking. The same property
//! as the `spec_parse` fuzz target in `fuzz/`, bounded to a few seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../../examples/groundwork.toml");

fn exercise(text: &str) -> Result<(), TestCaseError> {
    match groundwork_spec::parse(text) {
        Ok(spec) => {
            let _ = groundwork_spec::validate::check(&spec);
            let _ = groundwork_spec::resource::resources(&spec);
            let _ = groundwork_spec::diagram::draw(&spec, None);
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

/// One change to a text: delete, replace or insert at a position.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Replace(usize, String),
    Insert(usize, String),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut out: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = out.len().max(1);
        match edit {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(out.len());
                out.drain(at.min(out.len())..end);
            }
            Edit::Replace(at, with) => {
                let at = at % len;
                if at < out.len() {
                    out.splice(at..=at, with.chars());
                }
            }
            Edit::Insert(at, with) => {
                let at = (at % len).min(out.len());
                out.splice(at..at, with.chars());
            }
        }
    }
    out.into_iter().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = "([\\[\\]=\"'{},.#\\n0-9a-z_-]|true|-1|1e309|\"\"\"|\\[\\[x\\]\\]|9999999999999999999999){0,4}";
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), piece).prop_map(|(at, s)| Edit::Replace(at, s)),
        (any::<usize>(), piece).prop_map(|(at, s)| Edit::Insert(at, s)),
    ]
}

#[test]
fn the_example_spec_is_accepted() {
    groundwork_spec::parse(EXAMPLE).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn an_edited_example_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        exercise(&apply(EXAMPLE, &edits))?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        exercise(&text)?;
    }
}
