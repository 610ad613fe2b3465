//! The bounds on what one script may cost, as the operator configures them
//! (`[delivery.sieve]`); exceeding one is an error, and delivery then keeps the message.

/// Defaults follow Pigeonhole's where it has the same limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest script accepted, in bytes (Pigeonhole `sieve_max_script_size`: 1 MiB).
    pub max_script_bytes: usize,
    /// Commands and tests one run may evaluate (Pigeonhole bounds CPU time instead).
    pub max_instructions: usize,
    /// Actions one run may collect (Pigeonhole `sieve_max_actions`: 32).
    pub max_actions: usize,
    /// Redirects one run may make (Pigeonhole `sieve_max_redirects`: 4).
    pub max_redirects: usize,
    /// Distinct variables (Pigeonhole `sieve_variables_max_scope_size`: 255).
    pub max_variables: usize,
    /// Longest variable value in bytes; longer ones are cut (Pigeonhole
    /// `sieve_variables_max_variable_size`: 4 KiB).
    pub max_variable_len: usize,
    /// Bytes of the message the body test looks at.
    pub max_body_bytes: usize,
    /// Deepest chain of nested `include`s (Pigeonhole `sieve_include_max_nesting_depth`: 10).
    pub max_include_depth: usize,
    /// Most scripts one run may include, all levels together.
    pub max_includes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_script_bytes: 1024 * 1024,
            max_instructions: 100_000,
            max_actions: 32,
            max_redirects: 4,
            max_variables: 255,
            max_variable_len: 4096,
            max_body_bytes: 1024 * 1024,
            max_include_depth: 10,
            max_includes: 32,
        }
    }
}
