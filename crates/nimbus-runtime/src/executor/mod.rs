//! The executor (placeholder while the isolate layer is brought up).
