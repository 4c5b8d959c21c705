//! Fuzz target: arbitrary bytes as `groundwork.toml`. Parsing must never panic: the text is
//! refused with its problems, or accepted, and then its checks, its resources and its
//! diagram are computed without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match groundwork_spec::parse(text) {
        Ok(spec) => {
            let _ = groundwork_spec::validate::check(&spec);
            let _ = groundwork_spec::resource::resources(&spec);
            let _ = groundwork_spec::diagram::draw(&spec, None);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
