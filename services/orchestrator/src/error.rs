//! The orchestrator's errors are the one error model of every service
//! ([`groundwork_kit::Error`]); an invalid spec becomes INVALID_ARGUMENT with one field
//! violation per problem, named by its TOML path.

pub use groundwork_kit::{Error, ErrorKind};

use crate::spec::SpecError;

/// The reason of a spec that does not validate.
pub const INVALID_SPEC: &str = "INVALID_SPEC";

/// Every problem of an invalid spec, as field violations with their TOML paths.
pub fn invalid_spec(e: SpecError) -> Error {
    let mut error = Error::new(ErrorKind::InvalidArgument, e.to_string()).with_reason(INVALID_SPEC);
    for problem in &e.problems {
        error = error.with_violation(problem.path.clone(), problem.to_string());
    }
    error
}
