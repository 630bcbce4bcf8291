//! The guest's tests beyond its unit tests, natively: one binary, with the
//! configuration, the events and the recording fake they share in `support`.

mod fuzz;
mod handle;
mod invariant;
mod support;
