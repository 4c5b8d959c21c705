//! End-to-end tests of the Groundwork stack; the helpers that start it live here.
