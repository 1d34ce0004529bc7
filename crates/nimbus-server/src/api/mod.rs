//! The Convex HTTP API: function endpoints, HTTP actions, and the response envelope.

pub mod envelope;
pub mod http_actions;
pub mod udf;
