//! The budget service's errors are the one error model of every service
//! ([`groundwork_kit::Error`]); bad input from the domain types converts into it here.

pub use groundwork_kit::{Error, ErrorKind};

use crate::domain::InvalidField;

impl From<InvalidField> for Error {
    fn from(e: InvalidField) -> Self {
        Error::invalid(e.field, e.reason)
    }
}
