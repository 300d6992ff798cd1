//! The `.mq` container (in progress).
pub struct Model;
pub struct ModelBuilder;
pub struct LoadOptions;
