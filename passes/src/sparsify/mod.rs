//! `sparsify` (issue 7): being written.

use crate::registry::Registry;

/// Registers the pass.
pub(crate) fn register(_r: &mut Registry) {}
